"""Delivery into Maildir++ folders under MAIL_ROOT, one file per recipient.

Each recipient gets a copy of its own, with its own trace headers
(prefix_for(address)), in MAIL_ROOT/<domain>/<localpart>/ and the folder the
account names. The writing itself (fsync, link, containment checks, file
modes) is delivery/maildir_folder.py; this backend adds what makes it a destination
like the others:

- the quota: a copy that would take a mailbox over Recipient.quota is not
  written, and the outcome says "mailbox full"; what the mailbox holds comes
  from its Maildir++ maildirsize file (delivery/maildirsize.py), to which
  each group adds a line per mailbox once its copies are in place;
- a full or unwritable local store (delivery/maildir.py write_error): the
  outcome says so first ("local disk full: ...") and is marked storage_full,
  so the run stops downloading what no copy could be written for;
- old copies an interrupted session left in tmp/ are removed when a run
  opens the folder (delivery/maildir_tmp.py);
- recognising a copy an interrupted session already stored: the token sits
  in the file's name, so already_delivered() finds it in new/ or cur/ (one
  directory listing per mailbox and folder for the life of the backend,
  which the Router keeps for one run);
- a group's copies made durable together: deliver() only stages each copy
  in tmp/; flush() (called by the engine before it records the group, so
  before anything is deleted at the source) makes their data durable, links
  them into new/ (cur/ for mail read at the source) and makes the links
  durable. With sync "file" (the default) each copy is fsync'd at flush()
  (writeback of the whole group started first, so one journal commit
  covers many copies: maildir_folder.sync_copies) and each folder once per
  group. With "filesystem"
  (POPADMIN_MAILDIR_SYNC=filesystem, Linux) it is two syncfs(2) calls per
  group instead: far fewer flushes on a filesystem of its own, but a syncfs
  also flushes whatever else is waiting on that filesystem (a database's
  files, other programs' writes), so on a shared disk it can cost more.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from delivery import maildir as paths
from delivery import maildir_folder as files
from delivery import maildirsize
from delivery.maildir import DeliveryError

from .base import DELIVERED, PERMANENT, TEMPORARY, Backend, Outcome, Recipient, Site

MB = 1024 * 1024
MAX_OPEN_FOLDERS = 64  # two descriptors each


@dataclass(frozen=True)
class MaildirSettings:
    mail_root: Path
    mode: int = paths.DEFAULT_MODE  # folders; files get the same bits without x
    sync: str = "file"  # or "filesystem": see the module's docstring


class MaildirBackend(Backend):
    name = "maildir"
    label = "Maildir under MAIL_ROOT"

    def __init__(self, settings: MaildirSettings):
        self.settings = settings
        self._stored: dict[tuple[str, str], set[str]] = {}
        self._homes: dict[str, Path] = {}
        # Folders opened (made and checked) by an earlier copy of the run:
        # (home, folder, seen) -> maildir_folder.Folder.
        self._folders: dict[tuple, files.Folder] = {}
        self._retired: list[files.Folder] = []  # closed once nothing staged needs them
        self._staged: list[files.Staged] = []
        self._broken: DeliveryError | None = None
        self._per_file = settings.sync == "file" or not files.HAVE_SYNCFS

    @classmethod
    def from_target(cls, target, site: Site) -> MaildirBackend:
        return cls(MaildirSettings(site.mail_root, site.maildir_mode, site.maildir_sync))

    def home(self, address: str) -> Path:
        """The mailbox's Maildir, refused (DeliveryError) if the address would leave MAIL_ROOT."""
        if address not in self._homes:
            self._homes[address] = paths.mailbox_dir(self.settings.mail_root, address)
        return self._homes[address]

    def flush(self):
        """Make the staged copies durable and visible (see the module's docstring)."""
        if self._broken is not None:
            # After a failed sync the kernel may not report the lost write
            # again: nothing staged by this backend is trusted any more.
            raise self._broken
        if not self._staged:
            return
        folders = list({copy.folder: None for copy in self._staged})
        added, copies = Counter(), Counter()  # per mailbox, for its maildirsize
        for copy in self._staged:
            added[copy.maildir] += copy.size
            copies[copy.maildir] += 1
        try:
            # The data, before any link.
            if self._per_file:
                files.sync_copies(self._staged)
            else:
                files.sync_filesystems(folders)
            files.publish(self._staged)
            if self._per_file:
                files.sync_dirs(folders)
            else:
                files.sync_filesystems(folders)
        except DeliveryError as exc:
            self._broken = exc
            raise
        for home, size in added.items():
            # Kept even without a quota here: Dovecot may enforce one from the same file.
            maildirsize.record(home, size, copies[home])
        if len(self._folders) > MAX_OPEN_FOLDERS:
            self._close_folders()  # a catch-all run over many mailboxes: reopened as needed
        else:
            self._close_retired()

    def close(self):
        self._close_folders()

    def _close_folders(self):
        # Only between groups: a staged copy needs its folder until it is linked.
        self._retired += self._folders.values()
        self._folders.clear()
        self._close_retired()

    def _close_retired(self):
        for folder in self._retired:
            folder.close()
        self._retired.clear()

    def _folder(self, home: Path, folder: str, seen: bool) -> files.Folder:
        key = (home, folder, seen)
        opened = self._folders.get(key)
        if opened is None:
            opened = self._folders[key] = files.open_folder(home, folder, self.settings.mode, seen)
        return opened

    def _staged_size(self, home: Path) -> int:
        """Bytes staged for this mailbox and not yet in its folders (nor its maildirsize)."""
        return sum(copy.size for copy in self._staged if copy.maildir == home)

    can_find_copies = True

    def already_delivered(self, recipient: Recipient, folder: str, token: str) -> bool:
        if not token:
            return False
        key = (recipient.address, folder)
        if key not in self._stored:
            try:
                self._stored[key] = paths.delivered_tokens(self.home(recipient.address), folder)
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
            if recipient.quota and maildirsize.would_exceed(
                home, recipient.quota, self._staged_size(home) + size, mode
            ):
                return Outcome(
                    address, TEMPORARY,
                    f"{address} is over its {recipient.quota / MB:g} MB quota", mailbox_full=True,
                )
            prefix = prefix_for(address)
            staged = files.stage(self._folder(home, folder, seen), spool, size, prefix=prefix,
                                 token=token, fsync=False)  # the group's data: flush()
        except DeliveryError as exc:
            # Every folder is opened (made and checked) again for the next
            # copy; the copies staged so far keep theirs until they are linked.
            self._retired += self._folders.values()
            self._folders.clear()
            return Outcome(address, TEMPORARY if exc.temporary else PERMANENT, str(exc),
                           storage_full=exc.storage)
        self._staged.append(staged)
        return Outcome(address, DELIVERED, f"stored as {staged.final_name}")
