# ruff: noqa: F811  (pytest fixtures imported from tests/test_alerts.py)
"""A message the server will not send is a wall in front of nothing: it is
noted and skipped, the rest of the mailbox is fetched and deleted, and after
MAX_ATTEMPTS failed runs it is left alone, named on the account pages, in
every run and in an alert, until it is fetched after all, disappears from
the server, or an administrator has it tried again."""

import datetime as dt
import uuid

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.models import GroupPolicy
from retrieval import alerts, engine
from retrieval.models import AlertEpisode, GlobalSettings, RefusedMessage, RemoteAccount, Run
from retrieval.models.refused import MAX_ATTEMPTS
from retrieval.refusals import DROPS_IN_A_ROW
from tests.admin_helpers import staff
from tests.factories import make_mailbox
from tests.fakeserver import FakeServer
from tests.hostile import delivered, lf, reason, run
from tests.misbehaving import (
    DROP,
    REFUSE,
    SHORT,
    MisbehavingImap,
    MisbehavingPop3,
    big_messages,
)
from tests.test_alerts import hook, mails, smtp  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def short_timeouts():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        timeout_seconds=2, connection_retries=1, retry_seconds=0)


class Pop3:
    name = "pop3"
    bad = bad_key = "uid-2"

    def box(self, messages, faults=None, **kwargs):
        return MisbehavingPop3(messages, {"uid-2": REFUSE} if faults is None else faults,
                               **kwargs)

    def remote(self, box):
        return list(box.messages)

    def asked(self, box):
        return box.asked["uid-2"]


class Imap:
    name = "imap"
    bad = "INBOX/7/2"
    bad_key = 2

    def box(self, messages, faults=None, **kwargs):
        return MisbehavingImap(messages, {2: REFUSE} if faults is None else faults, **kwargs)

    def remote(self, box):
        return [m["data"] for m in box.folders["INBOX"]]

    def asked(self, box):
        return box.asked[2]


protocols = pytest.mark.parametrize("protocol", [Pop3(), Imap()], ids=["pop3", "imap"])


def account_on(protocol, server, owner=None) -> RemoteAccount:
    account = RemoteAccount(
        owner=owner or make_mailbox(), protocol=protocol.name, security="none",
        host="127.0.0.1", port=server.port, username="alice", keep_policy="delete")
    account.set_password("secret")
    account.save()
    return account


def messages(n=3):
    return big_messages(n, uuid.uuid4().hex[:8], octets=2000)


def refused_thrice(protocol, box, server, owner=None):
    account = account_on(protocol, server, owner)
    runs = [run(account) for _ in range(MAX_ATTEMPTS)]
    return account, runs


# What each kind of failure says, by protocol (POP3 numbers change between runs).
WORDS = {
    REFUSE: {"pop3": "server refused to send message", "imap": "server refused to send"},
    DROP: {"pop3": "connection lost while downloading message",
           "imap": "download of message 2 in folder 'INBOX' broke off after"},
    SHORT: {"pop3": "arrived cut short", "imap": "arrived cut short or altered"},
}


@protocols
@pytest.mark.parametrize("fault", [REFUSE, DROP, SHORT])
def test_it_is_tried_three_times_then_left_alone(protocol, fault):
    originals = big_messages(3, uuid.uuid4().hex[:8], octets=20_000)
    box = protocol.box(originals, {protocol.bad_key: fault})
    words = WORDS[fault][protocol.name]
    with FakeServer(box) as server:
        account, runs = refused_thrice(protocol, box, server)
        later = box.add(messages(1)[0])

        fourth = run(account)

    assert MAX_ATTEMPTS == 3
    for attempt, each in enumerate(runs, 1):
        assert each.status == Run.Status.PARTIAL, reason(each)
        assert f"failed attempt {attempt} of 3" in reason(each)
        assert words in each.error, each.error
    assert "not asked for again until an administrator retries it" in reason(runs[-1])
    # The fourth run does not even ask for it, and fetches what came meanwhile.
    assert protocol.asked(box) == 3
    assert fourth.status == Run.Status.OK, reason(fourth)
    assert fourth.delivered == 1 and later
    [note] = fourth.notes
    assert note.startswith(f"message {protocol.bad} (")
    assert "left on the server after 3 failed attempts" in note
    assert words in note
    # The rest was fetched and deleted every time; only the bad one stays.
    assert protocol.remote(box) == [originals[1]]
    stored = delivered(account)
    assert len(stored) == 3 and lf(originals[1]) not in stored
    assert lf(originals[0]) in stored and lf(originals[2]) in stored
    row = RefusedMessage.objects.get(account=account)
    assert (row.uid, row.attempts, row.left_alone) == (protocol.bad, 3, True)
    assert row.first_failed < row.last_failed


def test_an_empty_scheduled_poll_that_only_repeats_a_message_left_alone_keeps_no_row():
    protocol = Pop3()
    box = protocol.box(messages(2))
    with FakeServer(box) as server:
        account, _ = refused_thrice(protocol, box, server)
        RemoteAccount.objects.filter(pk=account.pk).update(
            next_check=timezone.now() - dt.timedelta(seconds=1))
        rows = Run.objects.count()

        engine.run_account(account.pk, Run.Trigger.SCHEDULE)

    assert Run.objects.count() == rows
    assert RefusedMessage.objects.get(account=account).attempts == MAX_ATTEMPTS


@protocols
def test_a_message_sent_after_all_clears_its_record(protocol):
    originals = messages()
    box = protocol.box(originals)
    with FakeServer(box) as server:
        account = account_on(protocol, server)
        first = run(account)
        box.faults.clear()  # the provider fixed it

        second = run(account)

    assert first.status == Run.Status.PARTIAL
    assert second.status == Run.Status.OK and second.delivered == 1, reason(second)
    assert sorted(delivered(account)) == sorted(map(lf, originals))
    assert protocol.remote(box) == []
    assert not RefusedMessage.objects.filter(account=account).exists()


@protocols
def test_a_message_gone_from_the_server_clears_its_record(protocol):
    box = protocol.box(messages())
    with FakeServer(box) as server:
        account, _ = refused_thrice(protocol, box, server)
        if protocol.name == "pop3":
            box.messages, box.uidls = [], []
        else:
            box.folders["INBOX"] = []

        after = run(account)

    assert after.status == Run.Status.OK and after.notes == []
    assert not RefusedMessage.objects.filter(account=account).exists()


@protocols
def test_an_alert_names_the_message_and_why_until_it_is_retried(protocol, smtp, hook, client,
                                                                   django_user_model):
    box = protocol.box(messages())
    with FakeServer(box) as server:
        account, _ = refused_thrice(protocol, box, server)
        alerts.evaluate()

        episode = AlertEpisode.objects.get(closed=None)
        assert (episode.kind, episode.key) == ("refused", str(account.pk))
        assert f"message {protocol.bad} (" in episode.summary
        assert "server refused to send" in episode.summary
        sent = mails(smtp)
        assert sorted(to[0] for to, _ in sent) == sorted(["ops@ops.test", account.owner.address])
        subject = f"[popadmin] messages left on the server (account {account.pk})"
        assert all(mail["Subject"] == subject for _, mail in sent)
        owner_mail = next(m for to, m in sent if to == [account.owner.address])
        assert protocol.bad in owner_mail.get_payload()

        # An administrator has it tried again: the alert ends, the next run asks again.
        admin = django_user_model.objects.create_superuser("root", password="x")
        client.force_login(admin)
        answer = client.post(reverse("admin:retrieval_remoteaccount_retry_refused",
                                     args=[account.pk]))
        assert answer.status_code == 302
        alerts.evaluate()
        again = run(account)

    assert AlertEpisode.objects.get().closed is not None
    assert protocol.asked(box) == 4
    assert "failed attempt 1 of 3" in reason(again)


@protocols
def test_the_account_pages_say_which_message_and_why(protocol, client, django_user_model):
    user = django_user_model.objects.create_user("owner", password="x")
    group = Group.objects.create(name="checkers")
    GroupPolicy.objects.create(group=group, allow_manual_check=True)
    user.groups.add(group)
    owner = make_mailbox("owner@local.test", user=user)
    box = protocol.box(messages())
    with FakeServer(box) as server:
        account = account_on(protocol, server, owner)
        run(account)
        client.force_login(user)
        once = client.get(reverse("mail-accounts")).content.decode()
        run(account)
        run(account)
        thrice = client.get(reverse("mail-accounts")).content.decode()

    assert "Messages the server would not send" in once
    assert f"message {protocol.bad} (" in once
    assert "failed 1 of 3 attempts, tried again at the next check" in once
    assert "Some messages could not be fetched whole and stay on the remote server" in once
    assert "left on the server after 3 failed attempts" in thrice
    assert "server refused to send" in thrice

    viewer = staff(django_user_model, "viewer", "view_remoteaccount")
    client.force_login(viewer)
    page = client.get(reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))
    text = page.content.decode()
    assert "Messages the server would not send" in text
    assert "left on the server after 3 failed attempts" in text
    assert "popadmin-retry-refused" not in text  # view-only staff may not retry
    refused = client.post(reverse("admin:retrieval_remoteaccount_retry_refused",
                                  args=[account.pk]))
    assert refused.status_code == 403
    assert RefusedMessage.objects.filter(account=account).count() == 1

    editor = staff(django_user_model, "editor", "view_remoteaccount", "change_remoteaccount")
    client.force_login(editor)
    text = client.get(reverse("admin:retrieval_remoteaccount_change",
                              args=[account.pk])).content.decode()
    assert "popadmin-retry-refused" in text
    client.post(reverse("admin:retrieval_remoteaccount_retry_refused", args=[account.pk]))
    assert not RefusedMessage.objects.filter(account=account).exists()
    entry = LogEntry.objects.get(additional_data__event="retry refused messages")
    assert (entry.actor, entry.additional_data["uids"]) == (editor, [protocol.bad])


@protocols
def test_connections_lost_on_messages_in_a_row_end_the_run(protocol):
    originals = messages(DROPS_IN_A_ROW + 1)
    faults = ({f"uid-{i}": DROP for i in range(1, len(originals) + 1)}
              if protocol.name == "pop3" else {i: DROP for i in range(1, len(originals) + 1)})
    box = protocol.box(originals, faults)
    with FakeServer(box) as server:
        account = account_on(protocol, server)
        started = timezone.now()

        failed = run(account)

    assert failed.status == Run.Status.ERROR
    assert failed.error.startswith(f"the connection was lost on {DROPS_IN_A_ROW} messages in "
                                   "a row"), failed.error
    assert sum(box.asked.values()) == DROPS_IN_A_ROW  # the last one was never asked for
    assert protocol.remote(box) == originals and delivered(account) == []
    assert RefusedMessage.objects.filter(account=account).count() == DROPS_IN_A_ROW
    assert (timezone.now() - started).total_seconds() < 30


def test_imap_blames_only_the_message_a_whole_command_was_refused_for():
    """Exchange may refuse a UID FETCH of many messages as a whole: each message of
    it is then asked for alone before one is counted as refused."""
    originals = messages(4)
    box = MisbehavingImap(originals, {2: REFUSE}, whole_command=True)
    with FakeServer(box) as server:
        account = account_on(Imap(), server)

        first = run(account)

    assert first.status == Run.Status.PARTIAL, reason(first)
    assert (first.delivered, first.failed, first.deleted) == (3, 1, 3)
    assert [m["uid"] for m in box.folders["INBOX"]] == [2]
    assert list(RefusedMessage.objects.values_list("uid", flat=True)) == ["INBOX/7/2"]
    assert sorted(delivered(account)) == sorted(lf(originals[i]) for i in (0, 2, 3))
