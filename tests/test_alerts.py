"""Alerts: one notice per episode and one when it ends, grouped by server, by mail
(a real SMTP server) and webhook (a local HTTP receiver)."""

import datetime as dt
import email
import socket

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from popadmin.mailers import mailers_from_url
from retrieval import alerts, engine
from retrieval.models import AlertEpisode, GlobalSettings, RemoteAccount, Run, UserSettings
from tests.factories import make_account, make_mailbox
from tests.smtpserver import SmtpServer
from tests.webhookserver import WebhookServer

pytestmark = pytest.mark.django_db

NOW = timezone.now()
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def smtp(settings):
    with SmtpServer() as server:
        # As an operator sets it: EMAIL_URL, read through django-environ.
        settings.MAILERS = mailers_from_url(f"smtp://127.0.0.1:{server.port}")
        settings.DEFAULT_FROM_EMAIL = "popadmin@ops.test"
        settings.POPADMIN_ALERT_EMAILS = ["ops@ops.test"]
        yield server


@pytest.fixture
def hook(settings):
    with WebhookServer() as server:
        settings.POPADMIN_ALERT_WEBHOOK_URL = server.url
        yield server


def failing(host="pop.example.org", since=2 * HOUR, owner=None, **fields):
    account = RemoteAccount.objects.create(
        owner=owner or make_mailbox(), host=host, username=f"u{RemoteAccount.objects.count()}",
        failing_since=NOW - since, consecutive_failures=5, last_status="error",
        last_error="connection refused", **fields)
    return account


def mails(smtp):
    return [(sorted(r.rcpt_tos), email.message_from_bytes(r.content)) for r in smtp.received]


def test_a_hundred_failing_accounts_of_one_server_make_one_alert(smtp, hook):
    owners = [make_mailbox() for _ in range(3)]
    for n in range(100):
        failing(owner=owners[n % 3])

    alerts.evaluate(now=NOW)
    alerts.evaluate(now=NOW + dt.timedelta(minutes=1))  # still failing: nothing new

    assert AlertEpisode.objects.count() == 1
    sent = mails(smtp)
    admin = [m for to, m in sent if to == ["ops@ops.test"]]
    assert len(admin) == 1 and "pop.example.org" in admin[0]["Subject"]
    assert "100 account(s) on pop.example.org failing" in admin[0].get_payload()
    assert "and 50 more" in admin[0].get_payload()
    # Each owner once, about their own accounts only.
    assert sorted(to[0] for to, _ in sent if to != ["ops@ops.test"]) == sorted(
        o.address for o in owners)
    assert len(hook.posts) == 1
    path, headers, body = hook.posts[0]
    assert path == "/popadmin-alerts" and headers["Content-Type"] == "application/json"
    assert body["title"].startswith("[popadmin] accounts on pop.example.org failing")
    assert "100 account(s)" in body["text"]


def test_it_tells_once_when_it_recovers(smtp, hook):
    account = failing()
    alerts.evaluate(now=NOW)
    RemoteAccount.objects.filter(pk=account.pk).update(failing_since=None, last_status="ok")

    alerts.evaluate(now=NOW + HOUR)
    alerts.evaluate(now=NOW + 2 * HOUR)

    episode = AlertEpisode.objects.get()
    assert episode.closed == NOW + HOUR and not alerts.open_episodes().exists()
    subjects = [m["Subject"] for _, m in mails(smtp)]
    assert subjects.count("[popadmin] recovered: accounts on pop.example.org failing") == 2
    assert [p[2]["title"] for p in hook.posts][-1].startswith("[popadmin] recovered")
    assert len(hook.posts) == 2


def test_a_new_failure_after_recovery_is_a_new_episode(smtp):
    account = failing()
    alerts.evaluate(now=NOW)
    RemoteAccount.objects.filter(pk=account.pk).update(failing_since=None)
    alerts.evaluate(now=NOW + HOUR)
    RemoteAccount.objects.filter(pk=account.pk).update(failing_since=NOW)

    alerts.evaluate(now=NOW + 3 * HOUR)

    assert AlertEpisode.objects.count() == 2 and alerts.open_episodes().count() == 1


def test_it_waits_for_the_threshold_and_a_users_own(smtp):
    failing(since=dt.timedelta(minutes=30))
    quick = make_mailbox()
    UserSettings.objects.create(mailbox=quick, alert_after_minutes=10)
    failing(host="imap.other.example", since=dt.timedelta(minutes=30), owner=quick)

    alerts.evaluate(now=NOW)

    assert [e.key for e in alerts.open_episodes()] == ["imap.other.example"]


def test_a_server_group_grows_without_a_second_admin_alert(smtp):
    failing()
    alerts.evaluate(now=NOW)
    late = failing(owner=make_mailbox())

    alerts.evaluate(now=NOW + dt.timedelta(minutes=1))

    to_admins = [m for to, m in mails(smtp) if to == ["ops@ops.test"]]
    assert len(to_admins) == 1
    assert [to for to, _ in mails(smtp)][-1] == [late.owner.address]
    assert late.pk in AlertEpisode.objects.get().account_ids


def test_a_real_failing_account_raises_an_alert(smtp, dovecot, mail_user):
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        connection_retries=1, retry_seconds=0)
    account = make_account(dovecot, mail_user[0], "wrong password")
    engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert alerts.evaluate(now=timezone.now())["opened"] == 0  # not failing an hour yet
    assert alerts.evaluate(now=timezone.now() + HOUR + dt.timedelta(seconds=1))["opened"] == 1

    (to_owner,) = [m for to, m in mails(smtp) if to == [account.owner.address]]
    assert "login refused" in to_owner.get_payload()
    assert "wrong password" not in to_owner.get_payload()


def test_a_full_mailbox_raises_an_alert(smtp):
    account = failing()
    RemoteAccount.objects.filter(pk=account.pk).update(
        failing_since=None, last_status="partial", last_error_kind="mailbox_full",
        last_error="1 message(s) could not be delivered and stay on the server; message 1: "
                   "not delivered, mailbox full: a@local.test is over its 1 MB quota")

    alerts.evaluate(now=NOW)

    (episode,) = alerts.open_episodes()
    assert (episode.kind, episode.key) == ("mailbox_full", str(account.pk))
    assert "over its 1 MB quota" in [m for to, m in mails(smtp)
                                     if to == [account.owner.address]][0].get_payload()


def test_the_owner_setting_and_the_admin_setting(smtp, hook):
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(alert_owners=False)
    failing()

    alerts.evaluate(now=NOW)

    assert [to for to, _ in mails(smtp)] == [["ops@ops.test"]]


def test_admins_default_to_active_superusers(smtp, settings):
    settings.POPADMIN_ALERT_EMAILS = []
    User = get_user_model()
    User.objects.create_superuser("root", "root@ops.test", "x")
    User.objects.create_superuser("gone", "gone@ops.test", "x", is_active=False)
    User.objects.create_user("staff", "staff@ops.test", "x", is_staff=True)
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(alert_owners=False)
    failing()

    alerts.evaluate(now=NOW)

    assert [to for to, _ in mails(smtp)] == [["root@ops.test"]]


def test_a_notice_nobody_took_is_sent_again(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.MAILERS = mailers_from_url(f"smtp://127.0.0.1:{closed}")
    settings.POPADMIN_ALERT_EMAILS = ["ops@ops.test"]
    failing()

    alerts.evaluate(now=NOW)

    assert AlertEpisode.objects.get().opened_notified is None
    with SmtpServer() as server:
        settings.MAILERS = mailers_from_url(f"smtp://127.0.0.1:{server.port}")
        alerts.evaluate(now=NOW + dt.timedelta(minutes=1))
        alerts.evaluate(now=NOW + dt.timedelta(minutes=2))
        assert len([r for r in server.received if r.rcpt_tos == ["ops@ops.test"]]) == 1
    assert AlertEpisode.objects.get().opened_notified is not None


def test_silent_worker_and_beat(smtp, hook):
    beats = [("worker", NOW - dt.timedelta(seconds=5)), ("worker", NOW - HOUR),
             ("beat", NOW - dt.timedelta(minutes=3))]

    assert alerts.silent_roles(beats, now=NOW) == {"beat": NOW - dt.timedelta(minutes=3)}
    assert alerts.silent_roles([], now=NOW) == {"worker": None, "beat": None}

    alerts.evaluate(now=NOW, heartbeats=beats)
    assert [(e.kind, e.key) for e in alerts.open_episodes()] == [("silent", "beat")]
    alerts.evaluate(now=NOW + dt.timedelta(minutes=1), heartbeats=None)  # unknown: unchanged
    assert alerts.open_episodes().count() == 1
    alerts.evaluate(now=NOW + dt.timedelta(minutes=2),
                    heartbeats=[("worker", NOW + dt.timedelta(minutes=2)),
                                ("beat", NOW + dt.timedelta(minutes=2))])

    assert not alerts.open_episodes().exists()
    assert [p[2]["title"] for p in hook.posts] == ["[popadmin] beat silent",
                                                   "[popadmin] recovered: beat silent"]
    assert [to for to, _ in mails(smtp)] == [["ops@ops.test"], ["ops@ops.test"]]
