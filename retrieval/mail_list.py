"""What the mail page lists: the signed-in user's delivered messages, newest
first, from the Delivery records; for copies in the built-in Maildir, whether
each is read (the Maildir's Seen flag) and where its file is; for copies
delivered elsewhere (LMTP, SMTP, IMAP APPEND), the webmail address the
administrator set on the delivery target. Folders and accounts with their
unread counts for the side panel.

Everything starts from the user's own Mailbox: nothing here takes a mailbox
or a path from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from functools import cached_property, lru_cache

from django.conf import settings
from django.db.models import Count, Q
from django.utils import formats, timezone
from django.utils.translation import gettext

from delivery.mailbox_reader import Entry, FolderCount, MailboxReader
from delivery.maildir import DeliveryError
from delivery.models import Delivery, DeliveryTarget
from delivery.targets import target_for
from retrieval import mail_paging, unread_by_account

PER_PAGE = mail_paging.PER_PAGE
MAILDIR = "maildir"
LISTED = ("mailbox_id", "created", "sent", "sender", "subject", "folder", "backend", "token",
          "size", "run__account__name", "run__account__username", "run__account__host",
          "run__account__protocol")


def folder_key(name: str) -> str:
    """"" for INBOX; "Work/Reports" for "Work.Reports", "/Work/Reports/", ..."""
    name = (name or "").strip().strip("/")
    if name.upper() == "INBOX":
        return ""
    return "/".join(p for p in name.replace(".", "/").split("/") if p)


@dataclass
class Row:
    delivery: Delivery
    entry: Entry | None  # the Maildir file, when the copy is there
    folder: str  # where the file is now (an IMAP client may have moved it)
    webmail_url: str

    @property
    def in_maildir(self) -> bool:
        return self.delivery.backend == MAILDIR

    @property
    def unread(self) -> bool:
        return self.entry is not None and not self.entry.seen

    @cached_property
    def moment(self):
        return timezone.localtime(self.delivery.sent or self.delivery.created)

    @cached_property
    def when(self) -> str:
        """As webmail lists it: the time for today's mail, else the date."""
        moment = self.moment
        if moment.date() == timezone.localtime().date():
            return formats.time_format(moment, "TIME_FORMAT")
        return formats.date_format(moment, "SHORT_DATE_FORMAT")

    # What the list shows of it, as plain attributes: a page renders fifty.
    current: bool = False  # open in the reading pane
    href: str = ""

    @property
    def pk(self) -> int:
        return self.delivery.pk

    @property
    def sender(self) -> str:
        return self.delivery.sender

    @property
    def subject(self) -> str:
        return self.delivery.subject or gettext("(no subject)")

    @property
    def stamp(self) -> str:
        return self.moment.isoformat()

    @property
    def full_date(self) -> str:
        return formats.date_format(self.moment, "SHORT_DATETIME_FORMAT")

    @property
    def via(self) -> str:
        run = self.delivery.run
        account = str(run.account) if run is not None and run.account is not None else ""
        return account + ("" if self.in_maildir else " · " + gettext("delivered elsewhere"))

    @property
    def sender_name(self) -> str:
        return display_name(self.delivery.sender or "")


@lru_cache(maxsize=4096)  # a mailbox's senders repeat: parsed once each
def display_name(sender: str) -> str:
    """The display name, else the address ("Anna" for "Anna <anna@example.com>")."""
    name, address = parseaddr(sender)
    return (name or address or sender).strip() or "(unknown sender)"  # cached: not translated


def reader(mailbox) -> MailboxReader | None:
    try:
        return MailboxReader(settings.MAIL_ROOT, mailbox.address)
    except DeliveryError:
        return None  # an address that cannot name a Maildir: nothing stored there


def delivered(mailbox):
    return Delivery.objects.filter(mailbox=mailbox, result=Delivery.Result.DELIVERED)


def filtered(mailbox, folder: str | None = None, account: int | None = None):
    """The list under the folder and account filters, before any search."""
    rows = delivered(mailbox)
    if folder is not None:
        variants = {folder, folder.replace("/", "."), folder + "/"}
        if folder == "":
            variants |= {"INBOX", "inbox", "Inbox"}
        rows = rows.filter(folder__in=variants)
    if account is not None:
        rows = rows.filter(run__account_id=account)
    # Only what a row shows: an account's settings (JSON, secrets) are not
    # decoded fifty times a page.
    return rows.select_related("run__account").only(*LISTED)


def searched(rows, q: str = ""):
    """Sender or subject containing q (case-insensitive); `rows` itself without one."""
    if not q:
        return rows
    return rows.filter(Q(sender__icontains=q) | Q(subject__icontains=q))


def page_of(mailbox, *, older=None, newer=None, folder=None, account=None, q=""):
    """One page of the list (retrieval/mail_paging.py)."""
    rows = filtered(mailbox, folder, account)
    return mail_paging.page_of(rows, searched(rows, q), older=mail_paging.Cursor.parse(older),
                               newer=mail_paging.Cursor.parse(newer))


def webmail_urls(mailbox, accounts) -> dict:
    """{(account id or None, backend kind): url} for the targets this mailbox's mail goes to."""
    default = DeliveryTarget.objects.filter(is_default=True).first()
    urls = {}
    for account in [None, *accounts]:
        target = target_for(mailbox, default, account.delivery_target if account else None)
        if target is not None and target.webmail_url:
            urls[(account.pk if account else None, target.kind)] = target.webmail_url
    return urls


def rows_for(mailbox, deliveries, accounts) -> list[Row]:
    box = reader(mailbox)
    urls = webmail_urls(mailbox, accounts)
    folders = None
    indexes: dict[str, dict] = {}  # each folder's listing looked at once per page

    def index(name: str, fresh: bool = False) -> dict:
        if fresh or name not in indexes:
            indexes[name] = box.index(name, fresh=fresh)
        return indexes[name]

    refreshed: set[str] = set()
    out = []
    for d in deliveries:
        entry, where = None, folder_key(d.folder)
        if d.backend == MAILDIR and box is not None and d.token:
            entry = index(where).get(d.token)
            if entry is None and where not in refreshed:
                # Listed again once per folder and page, not per row: a file
                # delivered within the kept listing's clock tick is found, and a
                # page of deleted messages costs one listing, not fifty.
                refreshed.add(where)
                entry = index(where, fresh=True).get(d.token)
            if entry is None:  # moved by an IMAP client: the file keeps its name
                if folders is None:
                    folders = [f.name for f in box.folders()]
                for other in folders:
                    if other != where and (entry := index(other).get(d.token)):
                        where = other
                        break
        url = ""
        if d.backend != MAILDIR:
            url = urls.get((d.run.account_id if d.run else None, d.backend)) or next(
                (u for (_a, kind), u in urls.items() if kind == d.backend), "")
        out.append(Row(d, entry, where, url))
    return out


def folder_counts(mailbox) -> list[FolderCount]:
    """The Maildir's folders, and those that copies delivered elsewhere were put in."""
    box = reader(mailbox)
    counts = box.folders() if box else [FolderCount("", 0, 0)]
    known = {c.name for c in counts}
    elsewhere = (delivered(mailbox).exclude(backend=MAILDIR).values("folder")
                 .annotate(n=Count("id")))
    for row in elsewhere:
        name = folder_key(row["folder"])
        if name not in known:
            known.add(name)
            counts.append(FolderCount(name, row["n"], 0))
    return counts


def account_unread(mailbox, top: int | None = None) -> dict[int, int]:
    """account id -> unread messages of it in the Maildir (`top`: the newest
    delivered record's id, when the caller has it)."""
    box = reader(mailbox)
    if box is None:
        return {}
    unread = tuple(box.unread_tokens(f.name) for f in box.folders() if f.unread)
    return unread_by_account.counts(mailbox.pk, delivered(mailbox), unread, top)


def newer_than(mailbox, after: int, folder=None, account=None, q=""):
    """For the live list: rows delivered since the page showed `after` (a Delivery id)."""
    rows = searched(filtered(mailbox, folder, account), q).filter(id__gt=after)
    return list(rows.order_by("-created", "-id")[:PER_PAGE])
