"""Scheduled polling of a pushed account: a safety check every few hours while its IDLE is
healthy, the usual interval otherwise, and at once when its watcher dies."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval import admission, push_schedule
from retrieval.models import EffectiveSettings, GlobalSettings, PushWatch, RemoteAccount, Run
from retrieval.status import finish_run
from tests.factories import make_account

pytestmark = pytest.mark.django_db(transaction=True)


def finished(account):
    admitted = admission.admit(account, 300, Run.Trigger.MANUAL)
    run = Run.objects.create(account=account, trigger=Run.Trigger.MANUAL,
                             lease_token=admitted.token)
    knobs = EffectiveSettings.for_mailbox(account.owner, GlobalSettings.load(), None)
    finish_run(account, run, knobs, admitted.token)
    account.release_lease(admitted.token)
    return RemoteAccount.objects.get(pk=account.pk).next_check - timezone.now()


def watch(account, state, until=dt.timedelta(seconds=30)):
    PushWatch.objects.update_or_create(account=account, defaults={
        "watcher": "w", "until": timezone.now() + until, "state": state})


def test_a_healthy_push_polls_only_as_a_safety_check(dovecot, mail_user, settings):
    settings.POPADMIN_PUSH_SAFETY_MINUTES = 180
    account = make_account(dovecot, *mail_user, protocol="imap", poll_minutes=5)
    assert finished(account) < dt.timedelta(minutes=6)
    watch(account, PushWatch.State.IDLE)
    assert finished(account) > dt.timedelta(minutes=179)
    watch(account, PushWatch.State.FAILING)
    assert finished(account) < dt.timedelta(minutes=6)


def test_an_account_watching_several_folders_keeps_its_polls(dovecot, mail_user):
    account = make_account(dovecot, *mail_user, protocol="imap", poll_minutes=5,
                           folders=["INBOX", "Archive"])
    watch(account, PushWatch.State.IDLE)
    assert finished(account) < dt.timedelta(minutes=6)


def test_a_dead_watcher_s_accounts_are_polled_again_at_once(dovecot, mail_user):
    account = make_account(dovecot, *mail_user, protocol="imap")
    RemoteAccount.objects.filter(pk=account.pk).update(
        next_check=timezone.now() + dt.timedelta(hours=3))
    watch(account, PushWatch.State.IDLE, until=-dt.timedelta(seconds=1))
    assert push_schedule.lapse_dead_watches() == 1
    assert RemoteAccount.objects.get(pk=account.pk).next_check <= timezone.now()
    assert PushWatch.objects.get(account=account).state == PushWatch.State.CONNECTING
