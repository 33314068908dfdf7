"""Servers that get identities wrong, through the engine, against one invariant:
whatever was deleted at the source is, byte for byte, in the local Maildir.

Each case: a server lists a message under a uid seen-state already knows
(a repeated UIDL, a UIDL or IMAP UID handed out again, state imported from
another retriever), and the keep policy would delete what that uid named.
The rules are in docs/architecture/no-loss/identities.md and
docs/architecture/no-loss/imported-state.md.
"""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Mailbox
from retrieval.models import GlobalSettings, RemoteAccount, Run, SeenMessage
from tests.fakeserver import FakeServer, ImapMailbox, Pop3Mailbox
from tests.hostile import PROTOCOLS, account_on, delivered, lf, reason, run
from tests.test_imap_seen_uids import mark_seen
from tests.test_migration_end_to_end import _uidls, quoted
from tests.test_migration_seen_from_server import rc_file

pytestmark = pytest.mark.django_db

KEEP, DELETE, KEEP_DAYS = (RemoteAccount.Keep.KEEP, RemoteAccount.Keep.DELETE,
                           RemoteAccount.Keep.KEEP_DAYS)


def message(name: str, body: str = "", pad: int = 0) -> bytes:
    return (f"From: a@example.test\r\nMessage-ID: <{name}@identity.test>\r\n"
            f"Subject: {name}\r\n\r\n{body or 'body of ' + name}{'.' * pad}\r\n").encode()


def same_size(a: bytes, b: bytes) -> tuple[bytes, bytes]:
    """Pad the shorter body so both messages have one size (headers differ)."""
    short, long_ = sorted((a, b), key=len)
    padded = short.replace(b"\r\n\r\n", b"\r\n\r\n" + b"x" * (len(long_) - len(short)), 1)
    return (padded, long_) if short is a else (long_, padded)


class DeletionLog:
    """Mixin for the fake servers: every message a client made the server delete."""

    def removed(self) -> list[bytes]:
        return self.__dict__.setdefault("_removed", [])


class LoggedPop3(DeletionLog, Pop3Mailbox):
    def cmd_QUIT(self, conn, arg, state):
        self.removed().extend(self.messages[n - 1] for n in sorted(state["deleted"]))
        return super().cmd_QUIT(conn, arg, state)


class LoggedImap(DeletionLog, ImapMailbox):
    def cmd_UID_FETCH(self, conn, tag, args, state):
        if b"HEADER" not in args[1].upper():
            return super().cmd_UID_FETCH(conn, tag, args, state)
        for seq, m in self.matching(state, args[0]):
            header = m["data"].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
            conn.send(b"* %d FETCH (UID %d BODY[HEADER] {%d}\r\n" % (seq, m["uid"], len(header))
                      + header + b")\r\n")
        self.ok(conn, tag)

    def expunge(self, conn, state, uids=None, silent=False):
        for m in self.folders[state["selected"]]:
            if "\\Deleted" in m["flags"] and (uids is None or m["uid"] in uids):
                self.removed().append(m["data"])
        return super().expunge(conn, state, uids, silent)


def assert_nothing_lost(account, removed):
    # Line ends as our copies have them; POP3 ends a message without a final
    # line end with one (RFC 1939 framing), so that one is not compared.
    local = {m.rstrip(b"\n") for m in delivered(account)}
    lost = [m for m in removed if lf(m).rstrip(b"\n") not in local]
    assert not lost, f"deleted at the source, not stored here: {lost}"


def age_seen(account, days=10):
    SeenMessage.objects.filter(account=account).update(
        first_seen=timezone.now() - dt.timedelta(days=days))


def set_policy(account, policy, days=3):
    RemoteAccount.objects.filter(pk=account.pk).update(keep_policy=policy, keep_days=days)


@pytest.fixture(autouse=True)
def quick():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        timeout_seconds=2, connection_retries=1, retry_seconds=0)


# -- POP3: one UIDL listed twice ----------------------------------------------


def test_pop3_the_second_copy_of_a_repeated_uidl_is_fetched_before_it_is_deleted():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(messages_per_download=1)
    first, second = message("first"), message("second", pad=40)
    box = LoggedPop3([first, second], uidls=["X", "X"])
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["pop3"], server, keep_policy=DELETE)
        # One message per pass: the second pass lists the second copy alone, as "X".
        done = run(account)

    assert done.status == Run.Status.OK, reason(done)
    assert sorted(delivered(account)) == sorted([lf(first), lf(second)])
    assert box.messages == [] and len(box.removed()) == 2
    assert_nothing_lost(account, box.removed())


def test_pop3_a_kept_copy_keeps_its_identity_when_the_first_copy_goes():
    first, second = message("first"), message("second", pad=40)
    box = LoggedPop3([first, second], uidls=["X", "X"])
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["pop3"], server, keep_policy=KEEP_DAYS, keep_days=3)
        assert run(account).fetched == 2
        box.messages.pop(0), box.uidls.pop(0)  # another client deleted the first copy
        age_seen(account)

        again = run(account)

    # The second copy, listed as plain "X" now, is still "X#dup2": due, and deleted
    # without a second download (its headers checked with TOP first).
    assert (again.fetched, again.deleted) == (0, 1), reason(again)
    assert b"TOP 1 0" in server.received
    assert box.messages == []
    assert_nothing_lost(account, box.removed())


def test_pop3_copies_of_one_size_are_told_apart_by_their_headers():
    first, second = same_size(message("first"), message("second", pad=40))
    box = LoggedPop3([first, second], uidls=["X", "X"])
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["pop3"], server, keep_policy=KEEP_DAYS, keep_days=3)
        assert run(account).fetched == 2
        box.messages.pop(0), box.uidls.pop(0)  # the first copy went; the second is "X" now
        age_seen(account)

        again = run(account)

    # Same size as both rows: its headers say it is "X#dup2", due and checked.
    assert (again.fetched, again.deleted) == (0, 1), reason(again)
    assert box.messages == []
    assert_nothing_lost(account, box.removed())


# -- POP3: a UIDL handed out again ----------------------------------------------


@pytest.mark.parametrize("sizes", ["another size", "the same size"])
@pytest.mark.parametrize("policy", [KEEP_DAYS, DELETE])
def test_pop3_a_reused_uidl_is_a_new_message(policy, sizes):
    old, new = message("old"), message("new-one", pad=25)
    if sizes == "the same size":
        old, new = same_size(old, new)
        assert len(old) == len(new)
    box = LoggedPop3([old], uidls=["1"])  # numbered by position
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["pop3"], server, keep_policy=KEEP)
        assert run(account).delivered == 1
        box.messages, box.uidls = [new], ["1"]  # the old one went; "1" is the next one's now
        age_seen(account)
        set_policy(account, policy)

        again = run(account)

    assert again.status == Run.Status.OK, reason(again)
    assert (again.fetched, again.delivered) == (1, 1), reason(again)
    assert sorted(delivered(account)) == sorted([lf(old), lf(new)])
    assert box.messages == ([] if policy == DELETE else [new])
    assert_nothing_lost(account, box.removed())


# -- IMAP: a UID handed out again under the same UIDVALIDITY ----------------------


@pytest.mark.parametrize("sizes", ["another size", "the same size"])
@pytest.mark.parametrize("policy", [KEEP_DAYS, DELETE])
def test_imap_a_reused_uid_is_a_new_message(policy, sizes):
    old, new = message("old"), message("new-one", pad=25)
    if sizes == "the same size":
        old, new = same_size(old, new)
    box = LoggedImap({"INBOX": [old]})
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["imap"], server, keep_policy=KEEP)
        assert run(account).delivered == 1
        box.folders["INBOX"] = [{"uid": 1, "data": new, "flags": set()}]  # UIDVALIDITY 7 still
        age_seen(account)
        set_policy(account, policy)

        again = run(account)

    assert again.status == Run.Status.OK, reason(again)
    assert (again.fetched, again.delivered) == (1, 1), reason(again)
    assert sorted(delivered(account)) == sorted([lf(old), lf(new)])
    remote = [m["data"] for m in box.folders["INBOX"]]
    assert remote == ([] if policy == DELETE else [new])
    assert_nothing_lost(account, box.removed())


# -- seen-state written before sizes were kept --------------------------------------


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_a_row_without_a_size_is_checked_by_download_before_a_deletion(protocol):
    old, new = message("old"), message("new-one", pad=25)
    box = (LoggedPop3([old], uidls=["1"]) if protocol == "pop3"
           else LoggedImap({"INBOX": [old]}))
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS[protocol], server, keep_policy=KEEP)
        assert run(account).delivered == 1
        SeenMessage.objects.filter(account=account).update(size=None, header_digest="")
        if protocol == "pop3":
            box.messages = [new]
        else:
            box.folders["INBOX"] = [{"uid": 1, "data": new, "flags": set()}]
        set_policy(account, DELETE)

        again = run(account)

    assert (again.fetched, again.delivered, again.deleted) == (1, 1, 1), reason(again)
    assert "taken before sizes were kept" in reason(again)
    assert_nothing_lost(account, box.removed())


# -- state imported from fetchmail: the server's \Seen flags -----------------------


def test_imported_seen_state_never_deletes(dovecot, mail_user, tmp_path):
    user, password = mail_user
    dovecot.deliver_many(user, 3)
    mark_seen(dovecot, mail_user, [1, 2, 3])  # read on a phone, never downloaded
    dovecot.deliver_many(user, 1)
    before = dovecot.messages(user)
    owner = Mailbox.objects.create(address=f"{user}@local.test")
    rc = rc_file(tmp_path, user, password, dovecot.imaps_port, owner=owner.address)
    call_command("import_fetchmailrc", str(rc), stdout=io.StringIO())
    account = RemoteAccount.objects.get(owner=owner)
    set_policy(account, DELETE)

    done = run(account)

    assert done.status == Run.Status.OK, reason(done)
    after = dovecot.messages(user)
    removed = [m for m in before if m not in after]
    assert (done.fetched, done.delivered, done.deleted, len(removed)) == (1, 1, 1, 1)
    assert len(after) == 3  # the read ones: untouched, not fetched
    assert "3 message(s) recorded as taken by an import" in reason(done)
    assert set(SeenMessage.objects.filter(account=account).values_list("origin", flat=True)) == {
        "imported", "taken"}
    assert_nothing_lost(account, removed)


def test_imported_fetchids_never_delete(dovecot, mail_user, tmp_path):
    user, password = mail_user
    dovecot.deliver_many(user, 2)
    taken_by_fetchmail = _uidls(dovecot, user, password)
    dovecot.deliver_many(user, 1)
    before = dovecot.messages(user)
    owner = Mailbox.objects.create(address=f"{user}@local.test")
    rc = tmp_path / "fetchmailrc"
    rc.write_text(f"poll localhost with proto pop3 port {dovecot.pop3s_port}\n"
                  f"  user {quoted(user)} there with password {quoted(password)} "
                  f"is {owner.address} here options ssl sslcertck keep\n")
    ids = tmp_path / ".fetchids"
    ids.write_text("".join(f"{user}@localhost {uid}\n" for uid in taken_by_fetchmail))
    call_command("import_fetchmailrc", str(rc), "--state", str(ids), stdout=io.StringIO())
    account = RemoteAccount.objects.get(owner=owner)
    set_policy(account, KEEP_DAYS)
    age_seen(account, days=30)

    done = run(account)

    assert done.status == Run.Status.OK, reason(done)
    after = dovecot.messages(user)
    removed = [m for m in before if m not in after]
    assert (done.fetched, done.deleted, len(after)) == (1, 0, 3)
    set_policy(account, DELETE)
    again = run(account)
    removed += [m for m in after if m not in dovecot.messages(user)]
    assert (again.fetched, again.deleted, len(removed)) == (0, 1, 1)
    assert_nothing_lost(account, removed)


# -- IMAP: the folder renumbered (UIDVALIDITY changed) --------------------------------


@pytest.mark.parametrize("policy", [KEEP_DAYS, DELETE])
def test_imap_a_renumbered_folder_deletes_only_what_is_stored(policy):
    """New UIDVALIDITY, UIDs handed out afresh: mail taken before is recognised by
    its content and not delivered again; the new message is fetched first; what
    is deleted is stored."""
    old, new = message("old"), message("arrived-after", pad=7)
    box = LoggedImap({"INBOX": [old]})
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["imap"], server, keep_policy=KEEP)
        assert run(account).delivered == 1
        box.uidvalidity = 8
        box.folders["INBOX"] = [{"uid": 1, "data": new, "flags": set()},
                                {"uid": 2, "data": old, "flags": set()}]
        age_seen(account)
        set_policy(account, policy)

        again = run(account)
        third = run(account)  # the renumbered old copy, now known under its new UID

    assert again.status == Run.Status.OK, reason(again)
    assert sorted(delivered(account)) == sorted([lf(old), lf(new)]), "no copy twice"
    assert third.delivered == 0
    remote = [m["data"] for m in box.folders["INBOX"]]
    if policy == DELETE:
        assert remote == []
    else:
        assert new in remote  # taken just now: kept for its days
    assert_nothing_lost(account, box.removed())
