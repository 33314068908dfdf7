"""One remote account as another retriever's configuration describes it.

Both rc readers turn their entries into Candidates; plan.py matches them to
local mailboxes and hands them to the import machinery (retrieval.transfer).
`refused` says why an entry cannot be imported at all; `notes` say what of an
imported entry popadmin does differently. Neither ever quotes a password.
"""

from dataclasses import dataclass, field


@dataclass
class Candidate:
    source: str  # "file:line" of the entry, for every message about it
    host: str
    username: str = ""
    password: str | None = field(default=None, repr=False)
    protocol: str = ""  # "pop3", "imap" or "auto" (resolved by probing)
    security: str = "tls"
    port: int | None = None
    verify_tls: bool = True
    keep: str = "delete"
    folders: list = field(default_factory=list)
    mode: str = "single"
    local_names: list = field(default_factory=list)  # who the mail is for, in order
    wildcard: bool = False  # multidrop to anyone local (`is * here`)
    max_message_mb: int = 0
    poll_minutes: int | None = None
    enabled: bool = True
    disabled_why: str = ""  # why an entry is imported disabled, for the preview
    target_folder: str = ""
    accepted_domains: list = field(default_factory=list)  # global settings to add
    header_fields: list = field(default_factory=list)
    state_hosts: list = field(default_factory=list)  # names the state files use for the host
    state_names: list = field(default_factory=list)  # getmail: its oldmail file names
    seen: list = field(default_factory=list)  # popadmin seen-state uids from the state files
    keep_days: int | None = None
    notes: list = field(default_factory=list)
    refused: str = ""

    def note(self, text):
        self.notes.append(text)

    def refuse(self, text):
        # The first reason is the one reported: it is usually the cause of the rest.
        self.refused = self.refused or text

    @property
    def label(self):
        return f"{self.username or '?'}@{self.host}"
