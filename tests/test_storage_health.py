"""The free space of MAIL_ROOT and the spool (a real tmpfs each): a /healthz check,
a dashboard figure, and an alert for the administrators while it is low or the mail
storage refuses the accounts' deliveries."""

import email

import pytest
from django.urls import reverse

from popadmin.mailers import mailers_from_url
from retrieval import alerts
from retrieval.models import AlertEpisode, RemoteAccount
from tests.factories import make_mailbox
from tests.full_disk import fill, read_only, small_disk
from tests.smtpserver import SmtpServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def disks(tmp_path, settings):
    """MAIL_ROOT and SPOOL_DIR on 2 MB file systems of their own; low below 1 MB free."""
    with small_disk(tmp_path / "mail") as mail, small_disk(tmp_path / "spool") as spool:
        settings.MAIL_ROOT, settings.SPOOL_DIR = mail, spool
        settings.POPADMIN_MIN_FREE_MB, settings.POPADMIN_MIN_FREE_PERCENT = 1, 1.0
        yield mail, spool


@pytest.fixture
def smtp(settings):
    with SmtpServer() as server:
        settings.MAILERS = mailers_from_url(f"smtp://127.0.0.1:{server.port}")
        settings.DEFAULT_FROM_EMAIL = "popadmin@ops.test"
        settings.POPADMIN_ALERT_EMAILS = ["ops@ops.test"]
        yield server


def healthz(client):
    """/healthz of the storage alone: no worker runs in these tests."""
    response = client.get(reverse("healthz") + "?only=storage")
    return response.status_code, response.json()


def test_healthz_reports_the_free_space_of_each_place(client, disks):
    status, report = healthz(client)

    assert status == 200 and report["checks"]["storage"]["ok"] is True
    mail = report["checks"]["storage"]["mail_root"]
    assert mail["ok"] is True and mail["free_mb"] == 2 and mail["free_percent"] > 99
    assert str(disks[0]).encode() not in client.get(reverse("healthz")).content  # no paths


def test_healthz_fails_when_the_mail_root_is_full(client, disks):
    fill(disks[0])

    status, report = healthz(client)

    assert status == 503 and report["status"] == "failing"
    storage = report["checks"]["storage"]
    assert storage["ok"] is False and storage["spool"]["ok"] is True
    assert storage["mail_root"] == {"ok": False, "free_mb": 0, "free_percent": 0.0,
                                    "error": "0 MB free, below the minimum of 1 MB"}


def test_healthz_fails_below_the_share_of_space_set(client, disks, settings):
    fill(disks[1], leave=700_000)  # about a third of the spool free: 0 MB whole
    settings.POPADMIN_MIN_FREE_MB, settings.POPADMIN_MIN_FREE_PERCENT = 0, 50

    status, report = healthz(client)

    assert status == 503
    assert report["checks"]["storage"]["mail_root"]["ok"] is True
    assert report["checks"]["storage"]["spool"]["error"].endswith("below the minimum of 50%")


def test_healthz_fails_on_a_read_only_mail_root(client, disks):
    read_only(disks[0])

    status, report = healthz(client)

    assert status == 503
    assert report["checks"]["storage"]["mail_root"]["error"] == "mounted read-only"


def test_the_dashboard_shows_the_free_space_and_what_is_wrong(admin_client, disks):
    fill(disks[0])

    html = admin_client.get(reverse("dashboard")).content.decode()

    assert 'id="dash-storage"' in html
    assert 'data-metric="free-mail_root">0\xa0bytes<' in html
    assert 'data-metric="free-spool">2.0\xa0MB<' in html
    assert "0 MB free, below the minimum of 1 MB: mail waits on the remote servers" in html
    assert str(disks[0]) in html  # staff see where


def test_an_alert_opens_while_the_storage_is_low_and_closes_after(smtp, disks):
    filler = fill(disks[0])

    assert alerts.evaluate()["opened"] == 1

    (episode,) = alerts.open_episodes()
    assert (episode.kind, episode.key) == (AlertEpisode.Kind.STORAGE, "mail_root")
    (sent,) = smtp.received
    message = email.message_from_bytes(sent.content)
    assert sent.rcpt_tos == ["ops@ops.test"]
    assert message["Subject"] == "[popadmin] local storage full (mail_root)"
    assert "Local mail storage (MAIL_ROOT): 0 MB free" in message.get_payload()

    filler.unlink()
    assert alerts.evaluate()["closed"] == 1
    assert "recovered" in email.message_from_bytes(smtp.received[-1].content)["Subject"]


def test_an_alert_opens_for_deliveries_the_storage_refused(smtp, disks):
    # Free space the figures show, but writes refused (a file-system quota).
    account = RemoteAccount.objects.create(
        owner=make_mailbox(), host="pop.example.org", username="u1", last_status="error",
        last_error="local disk quota exceeded: cannot write to mailbox /m: Disk quota "
                   "exceeded; mail left on the server",
        last_error_kind=RemoteAccount.ErrorKind.STORAGE_FULL)

    alerts.evaluate()

    (episode,) = alerts.open_episodes()
    assert (episode.kind, episode.key, episode.account_ids) == ("storage", "mail_root",
                                                                [account.pk])
    assert "Disk quota exceeded" in episode.summary
    # The administrators' to fix: the owner is not told (their failing account is, later).
    assert [r.rcpt_tos for r in smtp.received] == [["ops@ops.test"]]
