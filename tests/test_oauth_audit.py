# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""OAuth2 providers and grants in the audit trail: who set up a provider and who signed an
account in, with the client secret and tokens only as "(hidden)"; the workers' hourly token
refreshes are not recorded."""

import json

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from retrieval.models import OAuthGrant, OAuthProvider, RemoteAccount
from retrieval.oauth.tokens import access_token_for
from tests.factories import make_mailbox
from tests.oauth_helpers import oauth_server, provider, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db

CLIENT_SECRET = "very-secret-client-value"


def stored(entries) -> str:
    return json.dumps([[e.changes, e.changes_text, e.additional_data, e.serialized_data]
                       for e in entries], default=str)


def test_a_provider_set_up_in_the_admin_is_recorded_without_its_secret(admin_client, admin_user):
    response = admin_client.post(reverse("admin:retrieval_oauthprovider_add"), {
        "name": "Our Google", "preset": "google", "tenant": "", "client_id": "cid",
        "client_secret": CLIENT_SECRET, "refresh_token_days": "0", "warn_days": "2",
    }, REMOTE_ADDR="192.0.2.5")
    assert response.status_code == 302

    provider = OAuthProvider.objects.get()
    entry = LogEntry.objects.get_for_object(provider).get()
    assert (entry.actor, entry.remote_addr) == (admin_user, "192.0.2.5")
    assert entry.changes_dict["client_secret_encrypted"][1] == "(hidden)"
    assert "client secret" in entry.changes_display_dict
    assert CLIENT_SECRET not in stored([entry])
    assert provider.client_secret_encrypted not in stored([entry])


def test_a_sign_in_is_recorded_with_hidden_tokens_and_refreshes_are_not(
    admin_client, admin_user, provider, oauth_server
):
    account = RemoteAccount.objects.create(owner=make_mailbox(), host="imap.example.test",
                                           username="o1", auth_method="xoauth2")
    sign_in(admin_client, account, provider)
    grant = OAuthGrant.objects.get(account=account)
    tokens = (grant.refresh_token(), grant.access_token())

    OAuthGrant.objects.filter(pk=grant.pk).update(access_expires=timezone.now())
    refreshed = access_token_for(account)

    entries = list(LogEntry.objects.get_for_object(grant))
    assert len(entries) == 1 and entries[0].actor == admin_user
    assert entries[0].changes_dict["refresh_token_encrypted"][1] == "(hidden)"
    assert entries[0].changes_dict["access_token_encrypted"][1] == "(hidden)"
    everything = stored(entries)
    for secret in (*tokens, refreshed, grant.refresh_token_encrypted):
        assert secret not in everything
