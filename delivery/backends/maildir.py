"""Delivery into Maildir++ folders under MAIL_ROOT, one file per recipient.

Each recipient gets a copy of its own, with its own trace headers
(prefix_for(address)), in MAIL_ROOT/<domain>/<localpart>/ and the folder the
account names. The writing itself (fsync, link, containment checks, file
modes) is delivery/maildir.py; this backend adds what makes it a destination
like the others:

- the quota: a copy that would take a mailbox over Recipient.quota is not
  written, and the outcome says "mailbox full"; what the mailbox holds comes
  from its Maildir++ maildirsize file (delivery/maildirsize.py), which every
  delivery adds its line to;
- recognising a copy an interrupted session already stored: the token sits
  in the file's name, so already_delivered() finds it in new/ or cur/ (one
  directory listing per mailbox and folder for the life of the backend,
  which the Router keeps for one run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from delivery import maildir as files
from delivery import maildirsize
from delivery.maildir import DeliveryError

from .base import DELIVERED, PERMANENT, TEMPORARY, Backend, Outcome, Recipient, Site

MB = 1024 * 1024


@dataclass(frozen=True)
class MaildirSettings:
    mail_root: Path
    mode: int = files.DEFAULT_MODE  # folders; files get the same bits without x


class MaildirBackend(Backend):
    name = "maildir"
    label = "Maildir under MAIL_ROOT"

    def __init__(self, settings: MaildirSettings):
        self.settings = settings
        self._stored: dict[tuple[str, str], set[str]] = {}

    @classmethod
    def from_target(cls, target, site: Site) -> MaildirBackend:
        return cls(MaildirSettings(site.mail_root, site.maildir_mode))

    def home(self, address: str) -> Path:
        """The mailbox's Maildir, refused (DeliveryError) if the address would leave MAIL_ROOT."""
        return files.mailbox_dir(self.settings.mail_root, address)

    can_find_copies = True

    def already_delivered(self, recipient: Recipient, folder: str, token: str) -> bool:
        if not token:
            return False
        key = (recipient.address, folder)
        if key not in self._stored:
            try:
                self._stored[key] = files.delivered_tokens(self.home(recipient.address), folder)
            except DeliveryError:
                self._stored[key] = set()  # nothing can be stored there either; deliver() says why
        return token in self._stored[key]

    def deliver(self, spool, size, sender, recipients, prefix_for, *, folder="", token="",
                seen=False):
        return [self._store(spool, size, r, prefix_for, folder, token, seen) for r in recipients]

    def _store(self, spool, size, recipient: Recipient, prefix_for, folder, token,
               seen=False) -> Outcome:
        address = recipient.address
        try:
            home = self.home(address)
            mode = self.settings.mode
            if recipient.quota and maildirsize.would_exceed(home, recipient.quota, size, mode):
                return Outcome(
                    address, TEMPORARY,
                    f"{address} is over its {recipient.quota / MB:g} MB quota", mailbox_full=True,
                )
            prefix = prefix_for(address)
            stored = files.deliver(home, folder, spool, size, prefix=prefix,
                                   token=token, mode=mode, seen=seen)
            # Kept even without a quota here: Dovecot may enforce one from the same file.
            maildirsize.record(home, size + len(prefix))
        except DeliveryError as exc:
            return Outcome(address, TEMPORARY if exc.temporary else PERMANENT, str(exc))
        return Outcome(address, DELIVERED, f"stored as {stored.name}")
