# ruff: noqa: F811  (pytest fixtures imported from tests/test_alerts.py)
"""An IMAP APPEND delivery target whose OAuth2 sign-in was revoked or ran out raises an
alert at once, per target, to the administrators only (no owner can sign it in again);
connecting the target again ends it."""

import datetime as dt

import pytest

from delivery.models import DeliveryTarget
from retrieval import alerts
from retrieval.models import AlertEpisode, OAuthGrant, RemoteAccount
from retrieval.oauth.tokens import save_token
from tests.factories import make_mailbox
from tests.test_alert_sign_in_expired import NOW, TOKEN, google  # noqa: F401
from tests.test_alerts import hook, mails, smtp  # noqa: F401

pytestmark = pytest.mark.django_db


def signed_in_target(provider, name="Gmail archive", auth_method="xoauth2"):
    target = DeliveryTarget.objects.create(
        name=name, kind="imap", host="imap.gmail.com", port=993, username=f"{name}@gmail.com",
        auth_method=auth_method)
    save_token(target, provider, TOKEN)
    return target


def test_a_revoked_target_sign_in_tells_the_admins_once_and_no_owner(smtp, hook, google):
    target = signed_in_target(google)
    other = signed_in_target(google, name="Other")
    owner = make_mailbox()
    RemoteAccount.objects.create(owner=owner, host="pop.example.test", username="u",
                                 delivery_target=target)
    OAuthGrant.objects.filter(target=target).update(expired=True)  # the provider refused

    alerts.evaluate(now=NOW)
    alerts.evaluate(now=NOW + dt.timedelta(minutes=1))

    episode = AlertEpisode.objects.get()
    assert (episode.kind, episode.key) == ("target_sign_in", str(target.pk))
    assert "Delivery target Gmail archive" in episode.summary and "Connect" in episode.summary
    assert "Other" not in episode.summary and str(other.pk) != episode.key
    sent = mails(smtp)
    assert [to for to, _ in sent] == [["ops@ops.test"]]
    assert sent[0][1]["Subject"] == (
        f"[popadmin] delivery target sign-in expired (target {target.pk})")
    assert len(hook.posts) == 1 and "Google sign-in expired" in hook.posts[0][2]["text"]


def test_connecting_the_target_again_ends_the_episode(smtp, google):
    target = signed_in_target(google)
    OAuthGrant.objects.filter(target=target).update(refresh_expires=NOW - dt.timedelta(hours=1))
    alerts.evaluate(now=NOW)
    assert AlertEpisode.objects.get().closed is None

    save_token(target, google, TOKEN)  # Connect, signed in again
    alerts.evaluate(now=NOW + dt.timedelta(minutes=5))

    assert AlertEpisode.objects.get().closed == NOW + dt.timedelta(minutes=5)
    subjects = [m["Subject"] for _, m in mails(smtp)]
    assert subjects.count(
        f"[popadmin] recovered: delivery target sign-in expired (target {target.pk})") == 1


def test_no_alert_for_a_working_target(smtp, google):
    signed_in_target(google)

    alerts.evaluate(now=NOW)

    assert not AlertEpisode.objects.exists() and mails(smtp) == []
