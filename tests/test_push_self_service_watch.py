"""Push switched off by its owner on the account form, with a real watcher on Dovecot: the
watcher lets the connection go, and scheduled polling is back to the account's own interval
at once (not the safety check of a pushed account); switched on again, it is watched again."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from retrieval import engine
from retrieval.models import GlobalSettings, PushWatch, RemoteAccount, Run
from tests.api_helpers import member
from tests.factories import make_account
from tests.form_posts import as_posted
from tests.watching import watcher_running
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def idle(account):
    return PushWatch.objects.filter(account=account, state="idle", watcher__gt="").exists()


def next_poll_after_a_session(account) -> dt.timedelta:
    run = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert run, run.reason
    return RemoteAccount.objects.get(pk=account.pk).next_check - timezone.now()


def save_push(client, account, on: bool):
    url = reverse("mail-account-edit", args=[account.pk])
    form = client.get(url).context["form"]
    response = client.post(url, as_posted(form, push=on))
    assert response.status_code == 302, response.content.decode()[-2000:]


def test_push_off_on_the_form_stops_the_watch_and_brings_back_the_polls(
        client, django_user_model, dovecot, mail_user, settings):
    settings.POPADMIN_WATCH_LEASE_SECONDS = 6
    settings.POPADMIN_PUSH_SAFETY_MINUTES = 180
    settings.POPADMIN_ALLOWED_PORTS = [143, 993, dovecot.imaps_port]
    gs = GlobalSettings.load()
    gs.allowed_internal_networks = ["127.0.0.0/8"]
    gs.save()
    owner = member(django_user_model, "owner", min_poll=5)
    account = make_account(dovecot, *mail_user, owner=owner.mailbox, protocol="imap",
                           host="127.0.0.1", network_restricted=True, keep_policy="keep",
                           poll_minutes=5)
    client.force_login(owner)
    with watcher_running() as watcher:
        wait_for(lambda: idle(account), timeout=30, what="the account to be watched")
        assert next_poll_after_a_session(account) > dt.timedelta(minutes=170)

        save_push(client, account, on=False)
        # A session ending before the watcher's next round polls on the usual interval.
        assert next_poll_after_a_session(account) < dt.timedelta(minutes=6)
        wait_for(lambda: account.pk not in watcher.tasks, timeout=20, what="the watch to end")
        assert PushWatch.objects.get(account=account).watcher == ""
        assert next_poll_after_a_session(account) < dt.timedelta(minutes=6)
        card = client.get(reverse("mail-accounts")).content.decode()
        assert "push: off for this account" in card

        save_push(client, account, on=True)
        wait_for(lambda: idle(account), timeout=30, what="the account to be watched again")
        assert next_poll_after_a_session(account) > dt.timedelta(minutes=170)
