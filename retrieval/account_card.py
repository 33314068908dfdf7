"""What an account's card on the user page says, in one place.

The page renders it and the progress endpoint returns it as JSON, so after
Check now the script swaps in exactly what a reload would show: last check,
result, error with its next step, next check, and a progress line that says
what is really happening (queued and how many ahead, paused by the
administrator, connection attempt n of m, n of m messages).
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

from retrieval import explain
from retrieval.dispatcher import COOLDOWN
from retrieval.models import AccountClaim, GlobalSettings, RemoteAccount, Run
from retrieval.models.account import live_lease

RESULT_WORDS = {
    Run.Status.OK: "OK",
    Run.Status.PARTIAL: "partly failed",
    Run.Status.ERROR: "failed",
    Run.Status.RUNNING: "running",
}
# Phases during which the page keeps asking for news.
ACTIVE = ("queued", "starting", "retrying", "running")


def when(moment, now) -> str:
    if moment is None:
        return ""
    local = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
    if abs(now - moment).total_seconds() < 60:
        return f"{local} (just now)"
    if moment <= now:
        return f"{local} ({timesince(moment, now)} ago)"
    return f"{local} (in {timeuntil(moment, now)})"


def latest_run(account: RemoteAccount) -> Run | None:
    return account.runs.order_by("-started").first()


def card(account: RemoteAccount, run: Run | None, running: bool, now=None,
         may_reconnect: bool = True) -> dict:
    """The card's texts; `running` is the service switch (GlobalSettings.service_running),
    `may_reconnect` whether the reader may sign the account in again (retrieval/explain.py)."""
    now = now or timezone.now()
    status = account.last_status
    why = explain.explain(account.last_error, account.host, may_reconnect)
    phase, line = _progress(account, run, running, now)
    return {
        "account": account.pk,
        "last_check": when(account.last_check, now) or "never",
        "result": RESULT_WORDS.get(status, status) if status else "never checked",
        "error": account.last_error,
        "error_summary": why.summary if why else "",
        "next_step": why.next_step if why else "",
        "admin_only": bool(why and why.who == explain.ADMIN),
        "failing": account.failure_summary,
        "next_check": _next_check(account, running, now),
        "enabled": account.enabled,
        "phase": phase,
        "active": phase in ACTIVE,
        "line": line,
        "run_id": run.pk if run else None,
        "run_status": run.status if run else None,
        "done": run.progress[0] if run else 0,
        "total": run.total if run else 0,
        "delivered": run.delivered if run else 0,
    }


def account_card(account: RemoteAccount, now=None, may_reconnect: bool = True) -> dict:
    account.refresh_from_db()
    return card(account, latest_run(account), GlobalSettings.is_running(), now, may_reconnect)


def _next_check(account, running: bool, now) -> str:
    if not account.enabled:
        return "none: the account is disabled"
    if not running:
        return "paused: the administrator has stopped mail collection"
    if not account.next_check or account.next_check <= now:
        return "due now"
    return when(account.next_check, now)


def _progress(account, run, running: bool, now) -> tuple[str, str]:
    if run is not None and run.status == Run.Status.RUNNING:
        return _running(run, now)
    lease = account.lease_token and account.lease_expires and account.lease_expires > now
    if lease:
        return "starting", "connecting to the server…"
    if not running:
        return "paused", ("paused by the administrator: mail collection is stopped, and "
                          "checks start again when it is switched back on")
    claimed_until = _claimed_until(account)
    if claimed_until and claimed_until > now:
        ahead = _ahead(account, claimed_until, now)
        return "queued", f"queued: {_ahead_words(ahead)}"
    if account.pending_trigger:
        busy = RemoteAccount.objects.filter(live_lease(now)).count()
        return "queued", f"queued: waiting for a free slot ({busy} checks running)"
    if not account.enabled:
        return "disabled", "the account is disabled: it is not checked"
    if run is None:
        return "idle", ""
    return "done", _finished(run, now)


def _running(run: Run, now) -> tuple[str, str]:
    if run.next_try and run.next_try > now and run.attempt:
        wait = timezone.localtime(run.next_try).strftime("%H:%M:%S")
        return "retrying", (f"the server did not answer: attempt {run.attempt} "
                            f"of {run.attempts} at {wait}")
    done, total = run.progress
    if total:
        return "running", f"fetching: {done} of {total} messages"
    return "running", "checking the server…"


def _finished(run: Run, now) -> str:
    ago = timesince(run.finished, now) if run.finished else ""
    moment = "a moment ago" if run.finished and now - run.finished < COOLDOWN else f"{ago} ago"
    if run.status == Run.Status.OK:
        got = f"{run.delivered} new message{'' if run.delivered == 1 else 's'}"
        return f"checked {moment}: OK, {got}"
    if run.status == Run.Status.PARTIAL:
        return f"checked {moment}: {run.delivered} delivered, {run.failed} not delivered"
    return f"checked {moment}: failed"


def _claimed_until(account):
    """When the claim of the account's queued task runs out, None without one (a
    list of cards reads the claims with the accounts: select_related("claim"))."""
    try:
        return account.claim.until
    except AccountClaim.DoesNotExist:
        return None


def _ahead(account, claimed_until, now) -> int:
    """Checks queued before this one, by when they were queued (claims run out in order)."""
    ahead = AccountClaim.objects.filter(until__gt=now, until__lt=claimed_until)
    if account.pending_trigger:
        # A check someone asked for has its own queue: scheduled work is not ahead.
        ahead = ahead.exclude(account__pending_trigger="")
    return ahead.exclude(account_id=account.pk).count()


def _ahead_words(ahead: int) -> str:
    if ahead == 0:
        return "next in line, waiting for a worker"
    return f"{ahead} check{'' if ahead == 1 else 's'} ahead, waiting for a worker"
