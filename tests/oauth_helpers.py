"""Fixtures and steps shared by the OAuth2 tests: the test authorization server, a Dovecot
that checks tokens at it, a provider row, and signing in through popadmin's own pages."""

from urllib.parse import urlparse

import pytest
import requests

from retrieval.models import OAuthProvider
from tests.dovecot import Dovecot, serving
from tests.oauthserver import OAuthServer


@pytest.fixture(scope="session")
def oauth_server():
    with OAuthServer() as server:
        yield server


@pytest.fixture(scope="session")
def oauth_dovecot(oauth_server):
    """A second real Dovecot whose oauth2 passdb introspects every token at oauth_server."""
    with serving(Dovecot(oauth2_introspection_url=oauth_server.url + "/introspect")) as server:
        yield server


@pytest.fixture
def provider(db, oauth_server):
    p = OAuthProvider(
        name="Test IdP", preset="custom", client_id=oauth_server.client_id,
        authorization_endpoint=oauth_server.url + "/authorize",
        token_endpoint=oauth_server.url + "/token",
        device_endpoint=oauth_server.url + "/device",
        revocation_endpoint=oauth_server.url + "/revoke",
        scopes="mail offline_access",
    )
    p.set_client_secret(oauth_server.client_secret)
    p.save()
    return p


def sign_in(client, account, provider):
    """The browser flow, as a browser follows it: popadmin -> provider -> popadmin callback."""
    start = client.get(f"/oauth/accounts/{account.pk}/connect?provider={provider.pk}")
    assert start.status_code == 302, start.content
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302
    back = urlparse(at_provider.headers["Location"])
    return client.get(f"{back.path}?{back.query}")
