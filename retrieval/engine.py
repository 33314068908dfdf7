"""One account, one session, no loss.

For each pass: list the mailbox, fetch up to "messages per download" new
messages, deliver each durably, record its seen-state at once, delete it per
the keep policy only after delivery, then commit (POP3 QUIT / IMAP expunge)
and go on until the mailbox is drained.
"""

import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError

from delivery.dedupe import DuplicateFilter
from delivery.maildir import STORAGE_ERRORS, DeliveryError
from delivery.message import inspect
from delivery.router import Router
from popadmin.net.errors import ConnectError, MessageTooLarge, ProtocolError
from popadmin.secrets import SecretError
from retrieval import admission, history, identity, seen_state
from retrieval.admission import Admission
from retrieval.group_commit import GROUP_ALONE_BYTES, GroupCommit
from retrieval.heartbeat import Heartbeat, LeaseLost
from retrieval.models import EffectiveSettings, GlobalSettings, RemoteAccount, Run
from retrieval.models.run import LOST_DATABASE
from retrieval.protocols.base import FetchFailed
from retrieval.read_ahead import ReadAhead
from retrieval.refusals import Refusals
from retrieval.sessions import connected_session
from retrieval.spool import emptied
from retrieval.status import finish_run

log = logging.getLogger(__name__)

# How often a session reads the service switch: a stop is noticed within about
# this long (after the message in hand), for one cheap query a second instead
# of one per message.
SWITCH_CHECK_SECONDS = 1.0


def run_account(account_id: int, trigger: str) -> Run | Admission:
    """Run one retrieval session: its Run, or the refused (false) Admission
    saying why it may not start now.

    That is: another worker holds the account, the service is stopped, no
    slot is free under the global or per-server limit (the account goes back
    in line), or a scheduled task finds its account no longer due
    (admission.admit).
    """
    account = (RemoteAccount.objects.select_related("owner", "owner__retrieval_settings")
               .annotate(has_refused=Refusals.any_recorded())  # no query of its own per poll
               .filter(pk=account_id).first())
    if account is None:
        return Admission(None, admission.GONE)
    global_settings = GlobalSettings.load()
    owner_settings = getattr(account.owner, "retrieval_settings", None)  # read just now
    knobs = EffectiveSettings.for_mailbox(account.owner, global_settings, owner_settings)
    lease_seconds = max(
        settings.POPADMIN_LEASE_SECONDS,
        knobs.timeout_seconds * 4 + knobs.connection_retries * knobs.retry_seconds,
    )
    admitted = admission.admit(account, lease_seconds, trigger)
    if not admitted:
        return admitted
    token = admitted.token
    try:
        run = Run.objects.create(account=account, trigger=trigger, lease_token=token,
                                 account_label=history.label(account),
                                 worker=history.worker_id())
        with Heartbeat(account, token, lease_seconds) as heartbeat:
            _session(account, run, knobs, heartbeat, global_settings, token)
    finally:
        # Its own finally: a failed finish_run (the database gone) must not
        # keep the account, or the task's retry would find it busy.
        account.release_lease(token)
    return run


def _session(account, run, knobs, heartbeat, global_settings, token=None):
    try:
        Retrieval(
            account, run, knobs, heartbeat.token, heartbeat.seconds, global_settings,
            heartbeat=heartbeat,
        ).execute()
    except (ProtocolError, SecretError, LeaseLost) as exc:
        run.error = str(exc)
    except DeliveryError as exc:
        # Only a group's flush lets one through (each copy's own failures are
        # outcomes): a mailbox problem in plain words, not an internal error.
        log.error("account %s: %s", account.pk, exc)
        run.error = (f"{exc}; the last group of messages was not recorded and stays on the "
                     "server, to be fetched again")
    except (OperationalError, InterfaceError) as exc:
        # The connection cut mid-session: if a new one can write the run's end (the
        # database is back), it says what happened, not "internal error".
        log.error("account %s: the database connection was lost: %s", account.pk, exc)
        run.error = LOST_DATABASE
    except Exception as exc:  # the run must end readable whatever went wrong
        if refusal := spool_refusal(exc):
            log.error("account %s: %s", account.pk, refusal)
            run.destination_refused(refusal)
        else:
            log.exception("retrieval of account %s failed", account.pk)
            run.error = f"internal error ({type(exc).__name__}): {exc}"
    finally:
        # Stopped first: finish_run clears the lease, which a renewal would
        # then take for another session's.
        heartbeat.stop()
        finish_run(account, run, knobs, token)


def spool_refusal(exc: Exception) -> str:
    """The plain reason when `exc` is the spool's disk refusing a write (full,
    over quota, read-only): like a full MAIL_ROOT, every message would meet it,
    so it fails the account; "" for anything else."""
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRORS:
        return f"{STORAGE_ERRORS[exc.errno]}: cannot write to the spool: {exc.strerror}"
    return ""


def source_folder(msg) -> str:
    """The remote folder a message came from (IMAP handles are "<folder>\\0<uid>");
    POP3 has only the inbox."""
    folder, sep, _uid = msg.handle.rpartition("\0")
    return folder if sep else "INBOX"


class Retrieval:
    def __init__(self, account, run, knobs, token, lease_seconds, global_settings,
                 heartbeat=None):
        self.account = account
        self.heartbeat = heartbeat
        self.run = run
        self.knobs = knobs
        self.global_settings = global_settings
        self.token = token
        self.lease_seconds = lease_seconds
        # The account's limit, never above the hard cap that keeps an endless
        # "message" from filling the spool disk.
        limit_mb = min(account.max_message_mb or settings.POPADMIN_HARD_MESSAGE_MB,
                       settings.POPADMIN_HARD_MESSAGE_MB)
        self.max_bytes = limit_mb * 1024 * 1024
        # Every recipient of a catch-all message sees this in its Received line:
        # host and protocol say where it came from; the login name stays private.
        self.source = f"{account.host} ({account.protocol}, account {account.pk})"
        # Messages this run gave up on (too big, undeliverable): later passes
        # skip them so they cannot block the rest of the mailbox.
        self.skip: set[str] = set()
        self.renumbered = seen_state.Renumbered(account, run)
        # Messages the server would not send whole, counted across runs (refusals.py).
        self.refusals = Refusals(account, run)
        self.router = Router(
            account, run, DuplicateFilter(knobs.duplicate_check), global_settings, self.source
        )
        self.identity = identity.Identities(account, run)
        self.group = GroupCommit(account, run, token, lease_seconds, refused=self.unrecorded,
                                 durable=self.router.flush)
        self._spool = None
        self.ahead = ReadAhead(self.spool_dir)
        # Admitted just now (admission.admit), so the service was running.
        self._switch_read = time.monotonic()

    def execute(self):
        try:
            self._passes()
        finally:
            if self._spool is not None:
                self._spool.close()
            self.ahead.close()
            self.router.close()  # e.g. the IMAP APPEND target's connection

    def _passes(self):
        first_pass = True
        while True:
            session = self.connect()
            try:
                remaining = self.one_pass(session, first_pass)
                session.commit()
                for warning in session.warnings:
                    self.run.note(warning)
            except _Reconnect:
                # Deletions of this pass roll back with the dropped connection;
                # their seen-state is recorded, so the next pass deletes them.
                remaining = True
            finally:
                session.close()
            first_pass = False
            if not remaining:
                return

    def connect(self):
        attempts = max(1, self.knobs.connection_retries)
        for attempt in range(1, attempts + 1):
            try:
                return connected_session(self.account, self.knobs.timeout_seconds,
                                        self.global_settings)
            except ConnectError as exc:
                if attempt == attempts:
                    raise ConnectError(f"{exc} (gave up after {attempts} attempts)")
                wait = self.knobs.retry_seconds
                log.info("account %s: %s; retrying in %ss", self.account.pk, exc, wait)
                self.run.retrying(attempt, attempts, wait, str(exc))
                time.sleep(wait)
        raise AssertionError("unreachable")

    def one_pass(self, session, first_pass: bool) -> bool:
        """Work through one batch; True if new messages remain for another pass."""
        seen = identity.stored(self.account)  # uid -> first seen, size, origin
        listing = self.identity.stable(session, session.list_messages(), seen)
        if first_pass:
            self.run.seen = len(listing)
            self.renumbered.notice(session, seen)
            seen_state.prune(self.account, seen, listing)
            self.skip |= self.refusals.start(listing)
        # A uid proves nothing alone: what may be deleted unfetched, and what must
        # be fetched although its uid is known, is the identity check's (identity.py).
        due = seen_state.expired(self.account, listing, seen)
        check = self.identity.check(session, listing, seen, due)
        new = [m for m in listing if (m.uid not in seen or m.uid in check.fetch)
               and m.uid not in self.skip]
        for msg in new:
            if self.max_bytes and msg.size > self.max_bytes:
                self.skip_message(msg, f"{msg.size} bytes, over the size limit; left on server")
        new = [m for m in new if m.uid not in self.skip]
        batch = new[: self.knobs.messages_per_download or None]
        if first_pass:
            self.run.total = len(new)
            if self.run.seen or self.run.total:  # the row was created with zeros
                Run.objects.filter(pk=self.run.pk).update(seen=self.run.seen, total=self.run.total)
        # POP3 with PIPELINING sends the next RETRs while one message is delivered.
        if self.router.may_read_ahead:
            session.prefetch(batch)
        self.ahead.plan(batch)
        try:
            for done, msg in enumerate(batch, 1):
                if self.heartbeat:
                    self.heartbeat.check()  # never start a message without the account
                if msg.size > GROUP_ALONE_BYTES:
                    # Its download holds no transaction (and no SQLite write lock).
                    self.group.commit(session)
                self.take(session, msg)
                if self.router.refusal:
                    # The local storage refuses every write (a full disk): download
                    # no more; the run is an error of the account (Run.destination_refused).
                    self.group.commit(session)
                    return False
                left = len(new) - done
                if left and self.service_stopped():
                    # Stopping the service lets a session finish the message in
                    # hand; the caller then commits (QUIT / expunge) what is done.
                    self.group.commit(session)
                    self.run.note(f"service stopped; {left} messages left for later")
                    self.run.stopped_early = True
                    return False
                if self.group.full():
                    self.group.commit(session)
            self.group.commit(session)
        except BaseException as exc:
            # What was delivered is recorded even when the session breaks off;
            # nothing is deleted on a connection in an unknown state.
            self.group.abandon(exc)
            raise
        finally:
            self.ahead.drop()  # read ahead but not delivered: left on the server
        expired = [m for m in due if m.uid in check.deletable]
        session.delete_many(expired)
        if expired:  # a zero would cost an UPDATE of the run
            self.group.count(deleted=len(expired))
        self.group.flush_counts()
        return len(new) > len(batch)

    def service_stopped(self) -> bool:
        """The service switch, read at most once per SWITCH_CHECK_SECONDS."""
        now = time.monotonic()
        if now - self._switch_read < SWITCH_CHECK_SECONDS:
            return False
        self._switch_read = now
        return not GlobalSettings.is_running()

    def take(self, session, msg):
        """Fetch and deliver one message; its records join the open group
        (committed by GroupCommit, which then deletes it at the source)."""
        ahead = self.ahead.pop(msg.uid)
        if ahead is not None:
            try:
                self.deliver(session, msg, ahead.spool, ahead.size, ahead.info, ahead.error,
                             ahead.refused)
            finally:
                self.ahead.release(ahead)
            return
        spool = self.spool()
        try:
            size = self.download(session, msg, spool)
        except FetchFailed as exc:
            self.fetch_failed(msg, exc)
            return
        info = self.read_ahead(session, msg, spool)
        self.deliver(session, msg, spool, size, info)

    def download(self, session, msg, spool) -> int:
        try:
            return session.fetch(msg, spool, self.max_bytes)
        except MessageTooLarge:
            # The server understated the size; the connection is now mid-message.
            self.skip_message(msg, "over the size limit while downloading; left on server")
            raise _Reconnect()

    def fetch_failed(self, msg, exc: FetchFailed):
        # Refused, cut short or cut off: skipped for this run, the rest goes on.
        self.skip.add(msg.uid)
        self.group.count(failed=1)
        self.refusals.failed(msg, exc)
        if not exc.connected:
            raise _Reconnect() from exc

    def read_ahead(self, session, msg, spool):
        """Download the next messages of the batch now (retrieval/read_ahead.py) and
        look up their earlier copies with this one's in one query; this one's
        MessageInfo, or None when nothing is read ahead."""
        if not self.router.may_read_ahead or self.account.mode == RemoteAccount.Mode.CATCHALL:
            return None
        following = self.ahead.following(msg)
        if not following:
            return None
        try:
            info = inspect(spool)
        except Exception:  # noqa: BLE001  (it fails alone in deliver, as ever)
            return None
        items = [(msg.uid, info)]
        for nxt in following:
            if self.heartbeat:
                self.heartbeat.check()
            entry = self.ahead.entry()
            try:
                entry.size = self.download(session, nxt, entry.spool)
            except FetchFailed as exc:
                if not exc.connected:
                    self.ahead.release(entry)
                    self.fetch_failed(nxt, exc)  # raises _Reconnect
                entry.refused = exc
            except BaseException:
                self.ahead.release(entry)
                raise
            else:
                try:
                    entry.info = inspect(entry.spool)
                    items.append((nxt.uid, entry.info))
                except Exception as exc:  # noqa: BLE001
                    entry.error = exc
            self.ahead.keep(nxt.uid, entry)
        self.router.prefetch(items)
        return info

    def deliver(self, session, msg, spool, size, info=None, error=None, refused=None):
        """Deliver a fetched message (`info`: already inspected; `error`: inspecting
        it failed; `refused`: its fetch failed on a connection still in order)."""
        if refused is not None:
            self.fetch_failed(msg, refused)
            return
        self.refusals.fetched(msg)
        self.group.begin()
        try:
            if error is not None:
                raise error
            # Writes nothing: its records come back in the report, for the group.
            info = info or inspect(spool)
            report = self.router.deliver(
                msg.uid, spool, info,
                known=self.renumbered.known(info) or self.identity.same_content(msg, info),
                source_folder=source_folder(msg), seen=msg.seen)
        except Exception as exc:  # one bad message must not stop the whole account
            log.exception("account %s: message %s failed", self.account.pk, msg.uid)
            self.fail_alone(msg, size, exc)
            return
        self.group.record(msg, report)
        for note in report.notes:
            self.run.note(note)
        for failure in report.failures:
            self.run.remember_failure(failure)
        self.group.count(fetched=1, bytes=size, delivered=report.delivered,
                         duplicates=report.duplicates, failed=report.failed)
        if not report.settled:
            # Copies already stored are remembered by token; the rest are
            # retried next time. Nothing is deleted or marked seen until then.
            self.skip.add(msg.uid)
        else:
            delete = (self.account.keep_policy == RemoteAccount.Keep.DELETE
                      or self.identity.verified_due(msg, info))
            self.group.settled(msg, info, delete=delete,
                               **self.identity.row_fields(session, msg, info, spool))
        if report.record_now:
            # A mail server's copy can only be remembered by its Delivery row:
            # a crash before the group's commit must not deliver it again.
            self.group.commit(session)

    def fail_alone(self, msg, size: int, exc: Exception):
        """Leave a message that broke delivery on the server, and go on with the rest."""
        self.group.count(fetched=1, bytes=size, failed=1)
        self.left_alone(msg, exc)

    def left_alone(self, msg, exc: Exception):
        failure = (f"message {msg.uid}: not delivered, left on the server: "
                   f"it could not be processed ({type(exc).__name__}: {exc})")
        self.run.note(failure)
        self.run.remember_failure(failure)
        self.skip.add(msg.uid)

    def unrecorded(self, msg, report, exc: Exception):
        """The database refused a delivered message's rows at the group's commit:
        it fails alone like a message that broke delivery (its copies are
        recognised by token next time), in place of what take() counted."""
        log.error("account %s: message %s not recorded: %s", self.account.pk, msg.uid, exc)
        self.group.count(delivered=-report.delivered, duplicates=-report.duplicates,
                         failed=1 - report.failed)
        self.left_alone(msg, exc)

    def skip_message(self, msg, why: str):
        self.skip.add(msg.uid)
        self.run.note(f"message {msg.uid}: {why}")

    def spool(self):
        """One spool for the whole run, emptied before each message (retrieval/spool.py)."""
        self._spool = emptied(self._spool, self.spool_dir)
        return self._spool

    @staticmethod
    def spool_dir():
        settings.SPOOL_DIR.mkdir(parents=True, exist_ok=True)
        return settings.SPOOL_DIR


class _Reconnect(Exception):
    """The session cannot go on, but the run can: drop it and start a new pass."""
