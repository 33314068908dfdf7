# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""Adding a Gmail or Microsoft account on the user page: when the administrator has set up a
provider of that kind, "Sign in with Google/Microsoft" is offered instead of a password, and
the sign-in comes back to the user page; without one, the password form is unchanged."""

from urllib.parse import urlparse

import pytest
import requests
from django.urls import reverse

from retrieval.models import GlobalSettings, OAuthGrant, OAuthProvider, RemoteAccount
from tests.dnsserver import DnsServer
from tests.oauth_helpers import oauth_server  # noqa: F401
from tests.test_oauth_account_forms import self_service_user, user_fields

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def empty_dns():
    with DnsServer({}, rdata={}) as dns_server:
        yield dns_server


@pytest.fixture(autouse=True)
def quiet_dns(settings, empty_dns):
    # An empty local DNS: no SRV records, so the known-provider table answers.
    settings.POPADMIN_DNS_SERVERS = [empty_dns.address]


@pytest.fixture
def me(client):
    user = self_service_user()
    client.force_login(user)
    return user


def add_page(client, address):
    return client.get(reverse("mail-account-add"), {"address": address})


@pytest.mark.parametrize("address, preset, brand", [
    ("someone@gmail.com", "google", "Google"),
    ("someone@outlook.com", "microsoft", "Microsoft"),
    ("someone@hotmail.com", "microsoft", "Microsoft"),
])
def test_it_offers_the_sign_in_of_a_configured_provider(client, me, address, preset, brand):
    provider = OAuthProvider.objects.create(name=f"Our {brand}", preset=preset, client_id="c")

    page = add_page(client, address)

    text = page.content.decode()
    assert f"Save and sign in with {brand}" in text
    assert f'name="oauth_provider" value="{provider.pk}"' in text
    assert page.context["form"].initial["auth_method"] == "xoauth2"


def test_it_offers_nothing_without_a_provider_of_that_kind(client, me):
    OAuthProvider.objects.create(name="Only Microsoft", preset="microsoft", client_id="c")

    page = add_page(client, "someone@gmail.com")

    assert b"Save and sign in with" not in page.content
    assert b"oauth_provider" not in page.content
    assert page.context["form"].initial["auth_method"] == "password"  # as before


def test_it_offers_nothing_for_other_providers(client, me):
    OAuthProvider.objects.create(name="Google", preset="google", client_id="c")

    assert b"Sign in with" not in add_page(client, "someone@gmx.de").content


def test_the_sign_in_comes_back_to_the_user_page(client, me, oauth_server):
    gs = GlobalSettings.load()
    gs.allowed_internal_networks = ["127.0.0.0/8"]
    gs.save()
    provider = OAuthProvider(
        name="Test Google", preset="google", client_id=oauth_server.client_id,
        authorization_endpoint=oauth_server.url + "/authorize",
        token_endpoint=oauth_server.url + "/token",
    )
    provider.set_client_secret(oauth_server.client_secret)
    provider.save()

    saved = client.post(reverse("mail-account-add"),
                        user_fields(oauth_provider=str(provider.pk)))
    start = client.get(saved["Location"])
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    back = urlparse(at_provider.headers["Location"])
    done = client.get(f"{back.path}?{back.query}")

    account = RemoteAccount.objects.get(owner=me.mailbox)
    assert start.status_code == 302 and start["Location"].startswith(oauth_server.url)
    assert done.status_code == 302 and done["Location"] == "/mail/accounts/"
    grant = OAuthGrant.objects.get(account=account)
    assert grant.provider == provider and grant.connected_as == "me@gmail.com"
    page = client.get(done["Location"]).content.decode()
    assert "Connected" in page and "Signed in with Test Google as" in page


def test_anonymous_is_sent_to_log_in(client):
    OAuthProvider.objects.create(name="Google", preset="google", client_id="c")

    response = add_page(client, "someone@gmail.com")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_user_without_self_service_gets_no_offer(client, django_user_model):
    from tests.factories import make_mailbox

    OAuthProvider.objects.create(name="Google", preset="google", client_id="c")
    user = django_user_model.objects.create_user("plain")
    make_mailbox("plain@local.test", user=user)
    client.force_login(user)

    assert add_page(client, "someone@gmail.com").status_code == 403
    assert client.post(reverse("mail-account-add"), user_fields()).status_code == 403
    assert not RemoteAccount.objects.exists()


def test_staff_without_a_mailbox_cannot_add_through_the_user_page(admin_client):
    OAuthProvider.objects.create(name="Google", preset="google", client_id="c")

    assert add_page(admin_client, "someone@gmail.com").status_code == 403


def test_the_offer_page_lets_its_form_go_on_to_the_provider_only(client, me):
    # Save redirects to the provider; browsers hold a form's redirects to form-action.
    google = OAuthProvider(name="Google", preset="google", client_id="c")
    google.apply_preset()
    google.save()

    offered = add_page(client, "someone@gmail.com")["Content-Security-Policy"]
    plain = add_page(client, "someone@example.test")["Content-Security-Policy"]

    assert "form-action 'self' https://accounts.google.com" in offered
    assert "form-action 'self';" in plain + ";" and "accounts.google.com" not in plain
