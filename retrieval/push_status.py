"""What an account's card says about push: "new mail arrives within seconds", or why not."""

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from accounts.models import GroupPolicy
from retrieval.models import PushWatch

LATER = "new mail arrives at the next check"


def push_line(account, now) -> str:
    """One line for the card; "" for accounts push does not apply to (POP3)."""
    if account.protocol != "imap":
        return ""
    if not account.push:
        return f"push: off for this account; {LATER}"
    if not account.enabled:
        return "push: off while the account is disabled"
    try:
        watch = account.push_watch
    except ObjectDoesNotExist:
        watch = None
    live = watch is not None and watch.watcher and watch.until >= now
    if live and watch.state == PushWatch.State.IDLE:
        return "push: new mail arrives within seconds"
    if live and watch.state == PushWatch.State.NOOP:
        return (f"push: the server has no IDLE, so it is asked every "
                f"{settings.POPADMIN_PUSH_NOOP_SECONDS} seconds whether new mail came")
    if watch is not None and watch.state == PushWatch.State.LIMIT:
        return f"push: the server's limit of idle connections is reached; {LATER}"
    if live and watch.state == PushWatch.State.FAILING:
        return f"push: not working ({watch.error}); {LATER}"
    if live:
        return "push: connecting to the server…"
    user = account.owner.user if account.owner_id else None
    if user is not None and GroupPolicy.objects.filter(group__user=user,
                                                       allow_push=False).exists():
        return f"push: off for your group; {LATER}"
    if watch is not None and watch.idle_supported is False:
        return f"push: the server has no IDLE; {LATER}"
    return f"push: not running (no watcher is watching this account); {LATER}"
