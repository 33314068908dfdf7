"""A run's page: staff only; duration, size, trigger, worker, notes, deliveries, links."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from delivery.models import Delivery
from retrieval import engine
from retrieval.history import human_duration, run_summary
from retrieval.models import Run
from tests.factories import make_account, make_mailbox

pytestmark = pytest.mark.django_db

MESSAGE = (b"From: Alice Example <alice@example.org>\r\nTo: bob@example.org\r\n"
           b"Subject: Quarterly figures\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <q1@example.org>\r\n\r\n" + b"x" * 3000 + b"\r\n")


@pytest.fixture
def run(dovecot, mail_user):
    dovecot.deliver(mail_user[0], MESSAGE)
    account = make_account(dovecot, *mail_user, name="Work mail", owner=make_mailbox())
    done = engine.run_account(account.pk, Run.Trigger.MANUAL)
    done.note("a note worth reading")
    Run.objects.filter(pk=done.pk).update(notes=done.notes)
    return done


def user(**flags):
    return get_user_model().objects.create_user(f"u{timezone.now().timestamp()}", **flags)


def test_it_shows_the_run_to_staff(client, run):
    client.force_login(user(is_staff=True, is_superuser=True))
    account = run.account
    account.name = "Renamed later"
    account.save()

    page = client.get(f"/history/runs/{run.pk}/").content.decode()

    assert "Work mail" in page and "now named Renamed later" in page
    assert f"/admin/retrieval/remoteaccount/{account.pk}/change/" in page
    assert f"/admin/accounts/mailbox/{account.owner_id}/change/" in page
    assert "Check now" in page  # the trigger, in words
    assert run.worker in page and "a note worth reading" in page
    assert "KB" in page  # 3 KB message, in human units
    assert "Alice Example" in page and "Quarterly figures" in page
    assert account.owner.address in page and "maildir" in page and "Delivered" in page
    assert "2026-11-29 10:00" in page


def test_it_refuses_staff_without_the_view_permission(client, run):
    client.force_login(user(is_staff=True))

    assert client.get(f"/history/runs/{run.pk}/").status_code == 403


def test_it_lets_staff_with_the_view_permission_in(client, run):
    viewer = user(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_run"))
    client.force_login(viewer)

    assert client.get(f"/history/runs/{run.pk}/").status_code == 200


def test_it_sends_others_to_the_login(client, run):
    assert client.get(f"/history/runs/{run.pk}/").status_code == 302
    client.force_login(user())
    response = client.get(f"/history/runs/{run.pk}/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_answers_404_for_a_run_that_is_gone(client):
    client.force_login(user(is_staff=True, is_superuser=True))

    assert client.get("/history/runs/999999/").status_code == 404


def test_the_summary_says_what_a_waiting_run_does(run):
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, finished=None)
    waiting = Run.objects.get(pk=run.pk)
    waiting.retrying(1, 3, 30, "connection refused")

    summary = run_summary(waiting, now=waiting.next_try - timezone.timedelta(seconds=30))

    assert summary["retry"] == "attempt 2 of 3, next try in 30 s"
    assert summary["still_running"]
    assert summary["deliveries_total"] == Delivery.objects.filter(run=run).count() == 1


def test_it_puts_durations_in_words():
    assert [human_duration(s) for s in (0.42, 42, 125, 7300)] == [
        "0.4 s", "42 s", "2 min 5 s", "2 h 1 min"]
