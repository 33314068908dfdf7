"""Google and Microsoft mailboxes need an OAuth2 provider: the getting-started panel
says so with the redirect URI, and the provider form shows the URI to register."""

import pytest
from django.urls import reverse

from retrieval.models import OAuthProvider
from retrieval.templatetags.popadmin_admin import setup_steps

pytestmark = pytest.mark.django_db

CALLBACK = "https://mail.example.test/oauth/callback"


def test_the_panel_names_the_provider_step_and_the_redirect_uri(admin_client, settings):
    settings.POPADMIN_OAUTH_REDIRECT_URL = CALLBACK
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Sign in with Google or Microsoft" in page
    assert "refuse plain passwords over POP3/IMAP" in page and CALLBACK in page


def test_the_step_is_optional(admin_client):
    OAuthProvider.objects.all().delete()
    steps = setup_steps()
    provider = [s for s in steps if s.get("optional")]
    assert len(provider) == 1 and not provider[0]["done"]
    OAuthProvider.objects.create(name="Google", preset="google", client_id="c")
    assert [s for s in setup_steps() if s.get("optional")][0]["done"]


def test_the_provider_form_shows_the_redirect_uri(admin_client, settings):
    settings.POPADMIN_OAUTH_REDIRECT_URL = CALLBACK
    page = admin_client.get(reverse("admin:retrieval_oauthprovider_add")).content.decode()
    assert f'<code id="redirect-uri">{CALLBACK}</code>' in page


def test_without_a_setting_it_is_built_from_the_request(admin_client, settings):
    settings.POPADMIN_OAUTH_REDIRECT_URL = ""
    page = admin_client.get(reverse("admin:retrieval_oauthprovider_add")).content.decode()
    assert '<code id="redirect-uri">http://testserver/oauth/callback' in page
