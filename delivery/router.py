"""Deliver one fetched message to every mailbox it resolves to.

Single-user accounts resolve to the owner; catch-all accounts to the
recipients in the headers (delivery/recipients.py). Each mailbox goes to its
delivery target: Maildir in-process, or LMTP / SMTP with one transaction for
all of a target's recipients. A catch-all message distributed by its
envelope fields gets one copy per recipient without the envelope headers
naming the others (delivery/envelope.py); on LMTP/SMTP, recipients whose
copies differ then go in separate transactions. The message counts as
settled only when every mailbox has its copy; until then it stays on the
remote server, and a retry skips the mailboxes already served (Delivery rows
carry the message's token).
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace

from delivery import service
from delivery.backends import received_header
from delivery.dedupe import Verdict
from delivery.envelope import private_copies
from delivery.maildir import DeliveryError
from delivery.models import Delivery, DeliveryTarget
from delivery.recipients import Directory, resolve
from delivery.targets import target_for


@dataclass
class Report:
    delivered: int = 0
    duplicates: int = 0
    failed: int = 0  # copies not delivered (temporary or permanent): the message stays
    notes: list[str] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return self.failed == 0


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
        self.folder = account.target_folder
        self.directory = Directory.load(global_settings) if account.mode == "catchall" else None
        self.default_target = DeliveryTarget.objects.filter(is_default=True).first()
        self._stored: dict[int, set[str]] = {}
        self._backends: dict[int, object] = {}

    def deliver(self, uid: str, spool, info, known: bool = False) -> Report:
        """`known`: the engine already knows this mail is here (renumbered IMAP folder)."""
        report = Report()
        token = delivery_token(self.account.pk, uid, info.key)
        resolution = resolve(
            info.headers, owner=self.account.owner, mode=self.account.mode,
            settings=self.settings, max_recipients=self.settings.max_recipients,
            directory=self.directory,
        )
        report.notes += [f"message {uid}: {note}" for note in resolution.notes]
        served = set(
            Delivery.objects.filter(token=token, result=Delivery.Result.DELIVERED)
            .values_list("mailbox_id", flat=True)
        )
        copies = {}
        if resolution.private:
            copies = private_copies(
                spool, info.size, resolution.mailboxes, self.directory, self.settings
            )
        remote = defaultdict(list)
        for mailbox in resolution.mailboxes:
            copy = copies.get(mailbox.pk)
            target = target_for(mailbox, self.default_target)
            kind = target.kind if target else DeliveryTarget.Kind.MAILDIR
            if kind == DeliveryTarget.Kind.MAILDIR and token in self.stored(mailbox):
                # A session died after storing this copy but before recording it.
                report.notes.append(f"message {uid}: already delivered by an interrupted "
                                    f"session (to {mailbox})")
                self.duplicate(mailbox, info, report, kind)
            elif mailbox.pk in served:
                # Got its copy in an earlier attempt that failed for someone else.
                self.duplicate(mailbox, info, report, kind)
            elif known or self.is_duplicate(mailbox, uid, info, report):
                self.duplicate(mailbox, info, report, kind)
            elif kind == DeliveryTarget.Kind.MAILDIR:
                self.to_maildir(mailbox, uid, copy or spool, _sized(info, copy), token, report)
            else:
                remote[(target, copy.edits if copy else ())].append((mailbox, copy))
        for (target, _edits), group in remote.items():
            mailboxes, copy = [m for m, _ in group], group[0][1]
            self.to_server(target, mailboxes, uid, copy or spool, _sized(info, copy), token, report)
        return report

    def is_duplicate(self, mailbox, uid, info, report) -> bool:
        verdict = self.dedupe.check(mailbox.pk, info)
        if verdict is Verdict.CLASH:
            report.notes.append(f"message {uid}: same Message-ID as an earlier message but "
                                f"different content: delivered (to {mailbox})")
        return verdict is Verdict.DUPLICATE

    def duplicate(self, mailbox, info, report, backend):
        service.record_duplicate(mailbox, self.folder, info, run=self.run, backend=backend)
        report.duplicates += 1

    def to_maildir(self, mailbox, uid, spool, info, token, report):
        try:
            service.deliver(mailbox, self.folder, spool, info, run=self.run,
                            source=self.source, token=token)
        except DeliveryError as exc:
            report.failed += 1
            report.notes.append(f"message {uid}: not delivered to {mailbox}: {exc}")
            return
        self.dedupe.remember(mailbox.pk, info)
        report.delivered += 1

    def to_server(self, target, mailboxes, uid, spool, info, token, report):
        backend = self._backends.get(target.pk) or self._backends.setdefault(
            target.pk, target.backend()
        )
        by_recipient = {target.recipient_for(m): m for m in mailboxes}
        trace = received_header(self.source)
        outcomes = backend.deliver(
            spool, info.size, _sender(info.headers), list(by_recipient), lambda _rcpt: trace
        )
        for outcome in outcomes:
            mailbox = by_recipient[outcome.recipient]
            service.record_outcome(mailbox, self.folder, info, run=self.run,
                                   backend=backend.name, outcome=outcome, token=token)
            if outcome.status == "delivered":
                self.dedupe.remember(mailbox.pk, info)
                report.delivered += 1
            else:
                report.failed += 1
                full = "mailbox full: " if outcome.mailbox_full else ""
                report.notes.append(f"message {uid}: not delivered to {mailbox} "
                                    f"({outcome.status}): {full}{outcome.detail}")

    def stored(self, mailbox) -> set[str]:
        """Tokens already in the mailbox's folder: one directory listing per run."""
        if mailbox.pk not in self._stored:
            self._stored[mailbox.pk] = service.delivered_tokens(mailbox, self.folder)
        return self._stored[mailbox.pk]


def _sized(info, copy):
    # The copy's own size: Maildir's S= and the server's SIZE= must match what is sent.
    return info if copy is None else replace(info, size=copy.size)


def _sender(headers) -> str:
    """The envelope sender: the original Return-Path, or the null sender."""
    value = str(headers.get("Return-Path", "") or "").strip()
    return value.strip("<>").strip() if value else ""
