# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""An IMAP APPEND target that signs in with OAuth2 (issue 13): mail fetched from the normal
Dovecot is appended into the OAuth Dovecot, which checks every token at the test provider."""

import datetime as dt
import secrets
from urllib.parse import urlparse

import pytest
import requests
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from delivery.models import Delivery
from delivery.targets import DeliveryTarget
from retrieval import engine
from retrieval.models import OAuthGrant, Run
from tests.factories import make_account
from tests.oauth_helpers import oauth_dovecot, oauth_server, provider  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("ops", "ops@local.test", "x"))
    return client


def oauth_target(oauth_dovecot, method="xoauth2"):
    user = f"t{secrets.token_hex(4)}"
    target = DeliveryTarget.objects.create(
        name=f"oauth {user}", kind="imap", host="127.0.0.1", port=oauth_dovecot.imap_port,
        security="none", username=user, auth_method=method, timeout_seconds=10,
    )
    return target, user


def sign_in_target(client, target, provider):
    """The browser flow for a target, as a browser follows it."""
    start = client.get(f"/oauth/targets/{target.pk}/connect?provider={provider.pk}")
    assert start.status_code == 302, start.content
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302
    back = urlparse(at_provider.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


@pytest.mark.parametrize("method", ["xoauth2", "oauthbearer"])
def test_it_appends_into_the_oauth_mailbox_with_the_token(
    staff_client, provider, oauth_dovecot, dovecot, mail_user, method
):
    target, user = oauth_target(oauth_dovecot, method)
    back = sign_in_target(staff_client, target, provider)
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user, protocol="imap", delivery_target=target)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert back.status_code == 302
    assert back["Location"] == f"/admin/delivery/deliverytarget/{target.pk}/change/"
    assert (run.status, run.delivered, run.failed) == (Run.Status.OK, 2, 0), (run.error,
                                                                              run.notes)
    assert len(oauth_dovecot.messages(user)) == 2
    assert dovecot.messages(mail_user[0]) == []
    assert set(Delivery.objects.filter(run=run).values_list("backend", flat=True)) == {"imap"}
    grant = OAuthGrant.objects.get(target=target)
    assert grant.connected_as == user and grant.account is None


def test_an_expired_grant_is_temporary_and_the_message_stays_at_the_source(
    staff_client, provider, oauth_dovecot, oauth_server, dovecot, mail_user
):
    target, user = oauth_target(oauth_dovecot)
    sign_in_target(staff_client, target, provider)
    grant = OAuthGrant.objects.get(target=target)
    # Revoked at the provider, and the cached access token due: the refresh is refused.
    oauth_server.revoke_all(grant.refresh_token())
    OAuthGrant.objects.filter(pk=grant.pk).update(access_expires=timezone.now())
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, protocol="imap", delivery_target=target)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.delivered == 0, run.notes
    said = " ".join([run.error, *run.notes])
    assert "sign-in expired: reconnect" in said, said
    assert grant.access_token() not in said and grant.refresh_token() not in said
    assert len(dovecot.messages(mail_user[0])) == 1  # still at the source
    assert oauth_dovecot.messages(user) == []
    assert OAuthGrant.objects.get(pk=grant.pk).expired
    page = staff_client.get(f"/admin/delivery/deliverytarget/{target.pk}/change/")
    assert b"sign-in expired: reconnect" in page.content
    assert f"/oauth/targets/{target.pk}/connect".encode() in page.content

    # Reconnecting fixes it: the next run delivers what was left.
    sign_in_target(staff_client, target, provider)
    again = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert again.delivered == 1, (again.error, again.notes)
    assert len(oauth_dovecot.messages(user)) == 1


def test_a_dead_access_token_is_refreshed_before_the_append(
    staff_client, provider, oauth_dovecot, oauth_server, dovecot, mail_user
):
    target, user = oauth_target(oauth_dovecot, "oauthbearer")
    sign_in_target(staff_client, target, provider)
    oauth_server.expire_access_tokens()
    OAuthGrant.objects.filter(target=target).update(
        access_expires=timezone.now() + dt.timedelta(minutes=2))
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, protocol="imap", delivery_target=target)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.delivered == 1, (run.error, run.notes)
    assert len(oauth_dovecot.messages(user)) == 1


def test_the_target_form_offers_the_sign_in_method_and_keeps_oauth_to_imap(staff_client):
    add = staff_client.get("/admin/delivery/deliverytarget/add/")
    smtp = DeliveryTarget(name="relay", kind="smtp", host="127.0.0.1", auth_method="xoauth2")

    assert b'name="auth_method"' in add.content and b"OAUTHBEARER" in add.content
    with pytest.raises(ValidationError) as refused:
        smtp.full_clean()
    assert "auth_method" in refused.value.message_dict
