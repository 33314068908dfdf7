"""What an account's card says about push: "new mail arrives within seconds", or why not.

An account that fetches several folders has a connection per folder: its card
says which folders push covers, and for the others why not (the server's limit
of idle connections, a failing connection) and that their mail comes at the
next check, which keeps the account's usual poll interval.
"""

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
    if live and len(account.effective_folders) > 1:
        return _several_folders(account, watch)
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


def _names(folders) -> str:
    return ", ".join(folders)


def _several_folders(account, watch) -> str:
    """The Push line of an account watched on several folders, one part per kind of folder."""
    later = _("new mail there arrives at the next check")
    folders = account.effective_folders
    # With NOTIFY one connection watches every folder.
    count = len(folders) if watch.notify_supported else watch.connections
    watched, unwatched = folders[:count], folders[count:]
    recorded = watch.folders if isinstance(watch.folders, dict) else {}
    by_state: dict[str, list[str]] = {}
    failing = []
    for folder in watched:
        each = recorded.get(folder) if isinstance(recorded.get(folder), dict) else {}
        state = each.get("state") or PushWatch.State.CONNECTING
        if state == PushWatch.State.FAILING:
            failing.append((folder, each.get("error") or ""))
        else:
            by_state.setdefault(state, []).append(folder)
    parts = []
    idle = by_state.get(PushWatch.State.IDLE, [])
    if idle and len(idle) == len(folders):
        parts.append(_("new mail in each of its %(count)s folders arrives within seconds") % {
            "count": len(folders)})
    elif idle:
        parts.append(_("new mail in %(folders)s arrives within seconds") % {
            "folders": _names(idle)})
    if by_state.get(PushWatch.State.NOOP):
        parts.append(_("%(folders)s: the server has no IDLE, so it is asked every %(seconds)s "
                       "seconds whether new mail came") % {
            "folders": _names(by_state[PushWatch.State.NOOP]),
            "seconds": settings.POPADMIN_PUSH_NOOP_SECONDS})
    if by_state.get(PushWatch.State.CONNECTING):
        parts.append(_("connecting to %(folders)s…") % {
            "folders": _names(by_state[PushWatch.State.CONNECTING])})
    for folder, error in failing:
        # The watcher prefixes a folder's error with its name already.
        error = error.removeprefix(f"{folder}: ")
        parts.append(_("%(folder)s: not working (%(error)s); %(later)s") % {
            "folder": folder, "error": error, "later": later})
    if unwatched:
        parts.append(_("%(folders)s: not watched, the server's limit of idle connections "
                       "is reached; %(later)s") % {"folders": _names(unwatched),
                                                   "later": later})
    return _("push: %(parts)s") % {"parts": "; ".join(parts)}
