"""What an account's seen-state says about a listing: mail the server
renumbered, mail the keep policy lets go now, and rows for mail no longer
on the server."""

import datetime as dt

from django.utils import timezone

from retrieval.models import RemoteAccount, SeenMessage


def chunks(items: list, size: int = 500):
    # Bounded IN (...) lists: SQLite caps the number of query parameters.
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Renumbered:
    """Mail taken before an IMAP folder's UIDVALIDITY changed.

    Its old UIDs mean nothing now, so such mail is recognised by the
    Message-ID and content digest kept in its seen-state, whatever the
    duplicate-check setting, instead of being delivered again.
    """

    def __init__(self, account, run):
        self.account = account
        self.run = run
        self.keys: dict[str, set[str]] = {}  # key -> content digests

    def notice(self, session, seen):
        """Read the session's UIDVALIDITY per folder against the stored UIDs."""
        for folder, validity in session.uidvalidity.items():
            stale = {
                uid for uid in seen
                if uid.count("/") >= 2 and uid.rsplit("/", 2)[0] == folder
                and uid.rsplit("/", 2)[1] != str(validity)
            }
            if not stale:
                continue
            old = sorted({uid.rsplit("/", 2)[1] for uid in stale})
            self.run.note(
                f"folder {folder}: UIDVALIDITY changed from {', '.join(old)} to {validity}; "
                "the server renumbered its messages, so mail already delivered is matched "
                "by Message-ID and content and not delivered again"
            )
            for chunk in chunks(sorted(stale)):
                rows = SeenMessage.objects.filter(account=self.account, uid__in=chunk)
                pairs = rows.exclude(message_key="").values_list("message_key", "content_digest")
                for key, digest in pairs:
                    self.keys.setdefault(key, set()).add(digest)

    def known(self, info) -> bool:
        """Same key and same content (key alone for seen-state written before
        digests were kept)."""
        digests = self.keys.get(info.key)
        return digests is not None and bool(digests & {info.digest, ""})


def expired(account, listing, seen) -> list:
    """Messages with seen-state whose keep policy says they go now, if the
    identity check (identity.py) finds them still the messages taken."""
    policy = account.keep_policy
    if policy == RemoteAccount.Keep.KEEP:
        return []
    if policy == RemoteAccount.Keep.DELETE:
        # Delivered before, but a DELE or QUIT did not go through last time.
        return [m for m in listing if m.uid in seen]
    cutoff = timezone.now() - dt.timedelta(days=account.keep_days)
    return [m for m in listing if m.uid in seen and seen[m.uid].first_seen <= cutoff]


def prune(account, seen, listing):
    """Forget messages no longer on the server, so the table does not grow forever."""
    gone = set(seen) - {m.uid for m in listing}
    for chunk in chunks(sorted(gone)):
        SeenMessage.objects.filter(account=account, uid__in=chunk).delete()
