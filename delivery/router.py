"""Deliver one fetched message to every mailbox it resolves to.

Single-user accounts resolve to the owner; catch-all accounts to the
recipients in the headers (delivery/recipients.py). Each mailbox goes to its
delivery target's backend (delivery/backends), one call per target with all
of its recipients, whatever the kind. A catch-all message distributed by its
envelope fields gets one copy per recipient without the envelope headers
naming the others (delivery/envelope.py); recipients whose copies differ
then go in separate calls (separate LMTP/SMTP transactions). The message
counts as settled only when every mailbox has its copy; until then it stays
on the remote server, and a retry skips the mailboxes already served
(Delivery rows carry the message's token; a backend that can see its own
store, such as Maildir, also recognises a copy an interrupted session
stored but never recorded).
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cached_property, partial

from delivery import history
from delivery.backends import DELIVERED, STORAGE_FULL, Backend, trace_headers
from delivery.dedupe import Verdict
from delivery.dedupe import since as recent_since
from delivery.envelope import private_copies
from delivery.maildir import DeliveryError
from delivery.models import DeliveryTarget
from delivery.recipients import Directory, resolve
from delivery.targets import backend_for, recipient, target_for


class Failure(str):
    """Why a copy failed, as the run notes it, with its kind (history.failure_kind)."""

    kind: str = ""

    def __new__(cls, text: str, kind: str = ""):
        failure = super().__new__(cls, text)
        failure.kind = kind
        return failure


@dataclass
class Report:
    delivered: int = 0
    duplicates: int = 0
    failed: int = 0  # copies not delivered (temporary or permanent): the message stays
    notes: list[str] = field(default_factory=list)
    # Why copies failed, also in notes; kept apart so the account's last error
    # names a delivery failure, not a catch-all note that merely says "not delivered".
    failures: list[str] = field(default_factory=list)
    # A copy went where no later session could find it (LMTP, SMTP): record now.
    record_now: bool = False
    # Its Delivery rows, unsaved: the caller writes them with its group.
    records: list = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return self.failed == 0


@dataclass
class _LookedUp:
    """What one prefetch asked about, and the delivered copies it found."""

    tokens: set
    keys: set
    ids: set
    by_token: dict  # token -> [(mailbox_id, digest)]
    by_key: dict  # key -> [(mailbox_id, digest)], in `ids` and recent only


def delivery_token(account_id: int, uid: str, key: str) -> str:
    """32 hex digits naming this message from this account (uid and content key)."""
    return hashlib.sha256(f"{account_id}\0{uid}\0{key}".encode()).hexdigest()[:32]


class Router:
    def __init__(self, account, run, dedupe, global_settings, source: str):
        self.account = account
        self.run = run
        self.dedupe = dedupe
        self.settings = global_settings
        self.source = source
        self.directory = Directory.load(global_settings) if account.mode == "catchall" else None
        self.account_target = account.delivery_target if account.delivery_target_id else None
        self._backends: dict[int | None, Backend] = {}
        # Why the local storage refuses every write, once a copy met that: no later
        # message of the run could be stored, so the engine downloads no more.
        self.refusal = ""
        self.stored_any = False  # a copy of this run was delivered
        self._looked_up: _LookedUp | None = None  # the last prefetch

    @property
    def may_read_ahead(self) -> bool:
        """Whether the engine may ask for messages ahead of the one in hand (POP3
        pipelining, IMAP batches). Not while the destination refuses every write,
        nor in the run after a check it refused: such a run downloads the one
        message that finds out whether there is room again, nothing more (until a
        copy is stored: a next pass reads ahead again)."""
        if self.refusal:
            return False
        return self.stored_any or self.account.last_error_kind != STORAGE_FULL

    @cached_property
    def default_target(self):
        # Read when the first message needs it: an empty poll asks nothing.
        return DeliveryTarget.objects.filter(is_default=True).first()

    def deliver(self, uid: str, spool, info, known: bool = False,
                source_folder: str = "INBOX", seen: bool = False) -> Report:
        """`known`: the engine already knows this mail is here (renumbered IMAP folder);
        `source_folder`: the remote folder it came from (the account's folder mapping);
        `seen`: it was flagged \\Seen at the source (IMAP), for backends that keep flags."""
        report = Report()
        folder = self.account.destination_folder(source_folder)
        token = delivery_token(self.account.pk, uid, info.key)
        resolution = resolve(
            info.headers, owner=self.account.owner, mode=self.account.mode,
            settings=self.settings, max_recipients=self.settings.max_recipients,
            directory=self.directory,
        )
        report.notes += [f"message {uid}: {note}" for note in resolution.notes]
        served, stored = self.earlier_copies(token, info, resolution.mailboxes)
        copies = {}
        if resolution.private:
            copies = private_copies(
                spool, info.size, resolution.mailboxes, self.directory, self.settings
            )
        calls = defaultdict(list)  # (target, edits of the copy) -> mailboxes
        for mailbox in resolution.mailboxes:
            copy = copies.get(mailbox.pk)
            target = target_for(mailbox, self.default_target, self.account_target)
            backend = self.backend(target)
            if backend.already_delivered(recipient(mailbox), folder, token):
                # A session died after storing this copy but before recording it.
                report.notes.append(f"message {uid}: already delivered by an interrupted "
                                    f"session (to {mailbox})")
                self.duplicate(mailbox, folder, info, report, backend.name)
            elif mailbox.pk in served:
                # Got its copy in an earlier attempt that failed for someone else.
                self.duplicate(mailbox, folder, info, report, backend.name)
            elif known or self.is_duplicate(mailbox, uid, info, report, stored):
                self.duplicate(mailbox, folder, info, report, backend.name)
            else:
                calls[(target, copy.edits if copy else ())].append((mailbox, copy))
        for (target, _edits), group in calls.items():
            mailboxes, copy = [m for m, _ in group], group[0][1]
            self.send(target, mailboxes, uid, copy or spool, _sized(info, copy), token, report,
                      folder, seen)
        return report

    def prefetch(self, items):
        """Look up the earlier copies of messages about to be delivered, [(uid, info)],
        in one query (the engine's read-ahead, retrieval/read_ahead.py); deliver()
        then answers from it for each, in place of a query of its own. Only the
        account's owner is asked about: a message resolved to other mailboxes
        (a loop, a catch-all) queries as ever."""
        ids = [self.account.owner_id] if self.dedupe.enabled else []
        tokens = {delivery_token(self.account.pk, uid, info.key): info.key for uid, info in items}
        keys = sorted(set(tokens.values()))
        by_token, by_key = history.earlier_copies_of_many(list(tokens), keys, ids,
                                                          recent_since())
        self._looked_up = _LookedUp(set(tokens), set(keys), set(ids), by_token, by_key)

    def _copies(self, token, key, ids) -> list[tuple]:
        """(mailbox_id, digest, served, recent) rows, from the prefetch if it covers
        this message, else from a query of its own."""
        known = self._looked_up
        if known and token in known.tokens and key in known.keys and set(ids) <= known.ids:
            return history.copies_of(known.by_token, known.by_key, token, key, ids)
        return history.earlier_copies(token, key, ids, recent_since())

    def earlier_copies(self, token, info, mailboxes):
        """Mailboxes an earlier attempt served, and each mailbox's recent copies
        with this key (their digests), in one query."""
        ids = [m.pk for m in mailboxes] if self.dedupe.enabled else []
        served, stored = set(), {pk: set() for pk in ids}
        for mailbox_id, digest, was_served, recent in self._copies(token, info.key, ids):
            if was_served:
                served.add(mailbox_id)
            if recent:
                stored[mailbox_id].add(digest)
        return served, stored

    def is_duplicate(self, mailbox, uid, info, report, stored) -> bool:
        verdict = self.dedupe.check(mailbox.pk, info, stored.get(mailbox.pk, set()))
        if verdict is Verdict.CLASH:
            report.notes.append(f"message {uid}: same Message-ID as an earlier message but "
                                f"different content: delivered (to {mailbox})")
        return verdict is Verdict.DUPLICATE

    def duplicate(self, mailbox, folder, info, report, backend: str):
        report.records.append(
            history.record_duplicate(mailbox, folder, info, run=self.run, backend=backend))
        report.duplicates += 1

    def send(self, target, mailboxes, uid, spool, info, token, report, folder, seen=False):
        """One backend call for the mailboxes of one target that take the same copy."""
        backend = self.backend(target)
        outcomes = backend.deliver(
            spool, info.size, _sender(info.headers), [recipient(m) for m in mailboxes],
            partial(trace_headers, self.source), folder=folder, token=token, seen=seen,
        )
        for mailbox, outcome in zip(mailboxes, outcomes, strict=True):  # one each, in order
            report.records.append(history.record_outcome(
                mailbox, folder, info, run=self.run, backend=backend.name, outcome=outcome,
                token=token))
            if outcome.status == DELIVERED:
                self.stored_any = True
                self.dedupe.remember(mailbox.pk, info)
                report.delivered += 1
                report.record_now |= not backend.can_find_copies
            else:
                report.failed += 1
                failure = (f"message {uid}: not delivered to {mailbox} "
                           f"({outcome.status}): {history.describe(outcome)}")
                report.notes.append(failure)
                report.failures.append(Failure(failure, history.failure_kind(outcome)))
                if outcome.storage_full and not self.refusal:
                    self.refusal = outcome.detail
                    self.run.destination_refused(outcome.detail)

    def flush(self):
        """Before a group of copies is recorded: every backend makes them durable."""
        for backend in self._backends.values():
            try:
                backend.flush()
            except DeliveryError as exc:
                if exc.storage:
                    self.refusal = self.refusal or str(exc)
                    self.run.destination_refused(str(exc))
                raise

    def close(self):
        """The run is over: backends let go of their connections."""
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()

    def backend(self, target):
        """One backend per target for the whole run (it may cache, e.g. Maildir's listings)."""
        key = target.pk if target is not None else None
        if key not in self._backends:
            # The CA file of the global settings trusts delivery servers (SMTP STARTTLS,
            # IMAP APPEND) as it trusts the remote accounts' servers.
            ca_file = self.settings.effective_ca_file() if self.settings is not None else None
            self._backends[key] = backend_for(target, ca_file)
        return self._backends[key]


def _sized(info, copy):
    # The copy's own size: Maildir's S= and the server's SIZE= must match what is sent.
    return info if copy is None else replace(info, size=copy.size)


def _sender(headers) -> str:
    """The envelope sender: the original Return-Path, or the null sender."""
    value = str(headers.get("Return-Path", "") or "").strip()
    return value.strip("<>").strip() if value else ""
