"""Delivery into Maildir++ folders under MAIL_ROOT, one file per recipient.

Each recipient gets a copy of its own, with its own trace headers
(prefix_for(address)), in MAIL_ROOT/<domain>/<localpart>/ and the folder the
account names. The writing itself (fsync, link, containment checks, file
modes) is delivery/maildir.py; this backend adds what makes it a destination
like the others:

- the quota: a copy that would take a mailbox over Recipient.quota is not
  written, and the outcome says "mailbox full";
- recognising a copy an interrupted session already stored: the token sits
  in the file's name, so already_delivered() finds it in new/ or cur/ (one
  directory listing per mailbox and folder for the life of the backend,
  which the Router keeps for one run);
- one directory fsync per folder per group, not per copy: deliver() links
  each copy without syncing its directory, and flush() (called by the engine
  before it records the group, so before any deletion at the source) syncs
  every directory that received one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from delivery import maildir as files
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
        self._homes: dict[str, Path] = {}
        self._unsynced: set[Path] = set()

    @classmethod
    def from_target(cls, target, site: Site) -> MaildirBackend:
        return cls(MaildirSettings(site.mail_root, site.maildir_mode))

    def home(self, address: str) -> Path:
        """The mailbox's Maildir, refused (DeliveryError) if the address would leave MAIL_ROOT."""
        if address not in self._homes:
            self._homes[address] = files.mailbox_dir(self.settings.mail_root, address)
        return self._homes[address]

    def flush(self):
        # Forgotten only once synced: a failed sync is tried again, never skipped.
        files.sync_dirs(sorted(self._unsynced))
        self._unsynced.clear()

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
            if recipient.quota and files.usage_bytes(home) + size > recipient.quota:
                return Outcome(
                    address, TEMPORARY,
                    f"{address} is over its {recipient.quota / MB:g} MB quota", mailbox_full=True,
                )
            stored = files.deliver(home, folder, spool, size, prefix=prefix_for(address),
                                   token=token, mode=self.settings.mode, seen=seen,
                                   sync_dir=False)
            self._unsynced.add(stored.parent)
        except DeliveryError as exc:
            return Outcome(address, TEMPORARY if exc.temporary else PERMANENT, str(exc))
        return Outcome(address, DELIVERED, f"stored as {stored.name}")
