"""What an account's card says about push: "new mail arrives within seconds", or why not."""

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext as _

from accounts.policy import push_allowed
from retrieval.models import PushWatch, PushWatcher


def push_line(account, now) -> str:
    """One line for the card; "" for accounts push does not apply to (POP3)."""
    if account.protocol != "imap":
        return ""
    later = _("new mail arrives at the next check")
    if not account.push:
        return _("push: off for this account; %(later)s") % {"later": later}
    if not account.enabled:
        return _("push: off while the account is disabled")
    try:
        watch = account.push_watch
    except ObjectDoesNotExist:
        watch = None
    live = watch is not None and watch.watcher and watch.until >= now
    if live and watch.state == PushWatch.State.IDLE:
        return _("push: new mail arrives within seconds")
    if live and watch.state == PushWatch.State.NOOP:
        return _("push: the server has no IDLE, so it is asked every %(seconds)s seconds "
                 "whether new mail came") % {"seconds": settings.POPADMIN_PUSH_NOOP_SECONDS}
    if watch is not None and watch.state == PushWatch.State.LIMIT:
        return _("push: the server's limit of idle connections is reached; %(later)s") % {
            "later": later}
    if live and watch.state == PushWatch.State.FAILING:
        return _("push: not working (%(error)s); %(later)s") % {"error": watch.error,
                                                                "later": later}
    if live:
        return _("push: connecting to the server…")
    user = account.owner.user if account.owner_id else None
    if user is not None and not push_allowed(user):
        return _("push: off for your group; %(later)s") % {"later": later}
    if watch is not None and watch.idle_supported is False:
        return _("push: the server has no IDLE; %(later)s") % {"later": later}
    if PushWatcher.alive(now).exists():
        # Just switched on, or let go a moment ago: a running watcher takes it at its next
        # round (every 10 s by default).
        return _("push: starting; a watcher signs in to the server within seconds")
    return _("push: not running (no watcher is watching this account); %(later)s") % {
        "later": later}
