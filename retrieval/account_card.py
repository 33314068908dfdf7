"""What an account's card on the user page says, in one place.

The page renders it and the progress endpoint returns it as JSON, so after
Check now the script swaps in exactly what a reload would show: last check,
result, error with its next step, next check, messages the server would not
send, and a progress line that says what is really happening (waiting for
the first check, queued and its place in line, paused by the administrator,
connection attempt n of m, n of m messages, then what the last check did).

The last-check line and the progress line describe the same check: both
read the account's last_check, and the latest run's counts are quoted only
when that run is the last check (an automatic check that found nothing
keeps no run of its own, retrieval/history.py). Relative times are worded by
`ago` alone: "just now" under a minute, never "0 minutes ago".
"""

from __future__ import annotations

import datetime as dt

from django.contrib.humanize.templatetags.humanize import ordinal
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from retrieval import explain
from retrieval.models import AccountClaim, GlobalSettings, RemoteAccount, Run
from retrieval.models.account import live_lease
from retrieval.push_status import push_line
from retrieval.refusals import held_messages

RESULT_WORDS = {
    Run.Status.OK: gettext_lazy("OK"),
    Run.Status.PARTIAL: gettext_lazy("partly failed"),
    Run.Status.ERROR: gettext_lazy("failed"),
    Run.Status.RUNNING: gettext_lazy("running"),
}
# Phases during which the page keeps asking for news.
ACTIVE = ("due", "queued", "starting", "retrying", "running")
# A run that ended this close to the account's last check is that check
# (the session writes both as it ends, retrieval/status.py).
SAME_CHECK = dt.timedelta(seconds=5)
MINUTE = dt.timedelta(seconds=60)


def ago(moment, now) -> str:
    """"just now" under a minute, else "3 minutes ago"; the future as "in 3 minutes"
    ("in under a minute")."""
    if abs(now - moment) < MINUTE:
        return _("just now") if moment <= now else _("in under a minute")
    if moment <= now:
        return _("%(duration)s ago") % {"duration": timesince(moment, now)}
    return _("in %(duration)s") % {"duration": timeuntil(moment, now)}


def when(moment, now) -> str:
    if moment is None:
        return ""
    local = date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")
    return f"{local} ({ago(moment, now)})"


def latest_run(account: RemoteAccount) -> Run | None:
    return account.runs.order_by("-started").first()


def card(account: RemoteAccount, run: Run | None, running: bool, now=None,
         may_reconnect: bool = True, refused=()) -> dict:
    """The card's texts; `running` is the service switch (GlobalSettings.service_running),
    `may_reconnect` whether the reader may sign the account in again (retrieval/explain.py),
    `refused` the account's RefusedMessage records (retrieval/refusals.held_messages)."""
    now = now or timezone.now()
    status = account.last_status
    why = explain.explain(account.last_error, account.host, may_reconnect)
    phase, line = _progress(account, run, running, now)
    return {
        "account": account.pk,
        "last_check": when(account.last_check, now) or _("never"),
        "result": str(RESULT_WORDS.get(status, status)) if status else _("never checked"),
        "error": account.last_error,
        "error_summary": why.summary if why else "",
        "next_step": why.next_step if why else "",
        "admin_only": bool(why and why.who == explain.ADMIN),
        "failing": account.failure_summary,
        "next_check": _next_check(account, running, now),
        "enabled": account.enabled,
        "phase": phase,
        # What the progress line's colour follows: the last check's result once done.
        "state": (status or "") if phase == "done" else phase,
        "last_status": status or "",
        "active": phase in ACTIVE,
        "line": line,
        "run_id": run.pk if run else None,
        "run_status": run.status if run else None,
        "done": run.progress[0] if run else 0,
        "total": run.total if run else 0,
        "delivered": run.delivered if run else 0,
        "refused": [r.summary() for r in refused],
        "push": push_line(account, now),
    }


def account_card(account: RemoteAccount, now=None, may_reconnect: bool = True) -> dict:
    account.refresh_from_db()
    refused = held_messages([account]).get(account.pk, [])
    return card(account, latest_run(account), GlobalSettings.is_running(), now, may_reconnect,
                refused)


def _next_check(account, running: bool, now) -> str:
    if not account.enabled:
        return _("none: the account is disabled")
    if not running:
        return _("paused: the administrator has stopped mail collection")
    if not account.next_check or account.next_check <= now:
        return _("due now")
    return when(account.next_check, now)


def _progress(account, run, running: bool, now) -> tuple[str, str]:
    if run is not None and run.status == Run.Status.RUNNING:
        return _running(run, now)
    lease = account.lease_token and account.lease_expires and account.lease_expires > now
    if lease:
        return "starting", _("connecting to the server…")
    if not running:
        return "paused", _("paused by the administrator: mail collection is stopped, and "
                           "checks start again when it is switched back on")
    claimed_until = _claimed_until(account)
    if claimed_until and claimed_until > now:
        if account.claim.worker:
            return "queued", _("queued: a worker has taken it and starts it when it has a slot")
        ahead = _ahead(account, claimed_until, now)
        return "queued", _("queued: %(place)s") % {"place": _place_words(ahead)}
    if account.pending_trigger:
        busy = RemoteAccount.objects.filter(live_lease(now)).count()
        return "queued", _("queued: waiting for a free slot (%(busy)s checks running)") % {
            "busy": busy}
    if not account.enabled:
        return "disabled", _("the account is disabled: it is not checked")
    if account.last_check is None and run is None:
        if account.next_check is None or account.next_check <= now:
            # Just added: the dispatcher queues it at a tick with a free slot.
            return "due", _("first check due now: waiting for the scheduler to start it")
        return "idle", ""
    return "done", _finished(account, run, now)


def _running(run: Run, now) -> tuple[str, str]:
    if run.next_try and run.next_try > now and run.attempt:
        wait = timezone.localtime(run.next_try).strftime("%H:%M:%S")
        return "retrying", _("the server did not answer: attempt %(attempt)s of %(attempts)s "
                             "at %(time)s") % {"attempt": run.attempt, "attempts": run.attempts,
                                               "time": wait}
    done, total = run.progress
    if total:
        return "running", _("fetching: %(done)s of %(total)s messages") % {
            "done": done, "total": total}
    return "running", _("checking the server…")


def _finished(account, run: Run | None, now) -> str:
    """What the last check did, said of the account's last check (its time and result)."""
    checked = account.last_check or (run.finished if run else None)
    moment = ago(checked, now) if checked else _("at an unknown time")
    if run is None or not _is_last_check(run, account.last_check):
        # The last check kept no run: an automatic check that found nothing.
        if account.last_status in ("", Run.Status.OK):
            return _("checked %(moment)s: OK, no new messages") % {"moment": moment}
        result = RESULT_WORDS.get(account.last_status, account.last_status)
        return _("checked %(moment)s: %(result)s") % {"moment": moment, "result": result}
    if run.status == Run.Status.OK:
        return ngettext("checked %(moment)s: OK, %(count)s new message",
                        "checked %(moment)s: OK, %(count)s new messages",
                        run.delivered) % {"moment": moment, "count": run.delivered}
    if run.status == Run.Status.PARTIAL:
        return _("checked %(moment)s: %(delivered)s delivered, %(failed)s not delivered") % {
            "moment": moment, "delivered": run.delivered, "failed": run.failed}
    return _("checked %(moment)s: failed") % {"moment": moment}


def _is_last_check(run: Run, last_check) -> bool:
    if last_check is None or run.finished is None:
        return True
    return run.finished >= last_check - SAME_CHECK


def _claimed_until(account):
    """When the claim of the account's queued task runs out, None without one (a
    list of cards reads the claims with the accounts: select_related("claim"))."""
    try:
        return account.claim.until
    except AccountClaim.DoesNotExist:
        return None


def _ahead(account, claimed_until, now) -> int:
    """Checks queued before this one and not yet started, by when they were queued:
    claims run out in the order their tasks were queued, even within one batch
    (AccountClaim.write)."""
    live = AccountClaim.objects.filter(until__gt=now).exclude(account_id=account.pk)
    asked_for = ~Q(account__pending_trigger="")
    if account.pending_trigger:
        # A check someone asked for has its own queue: scheduled work is not ahead.
        return live.filter(asked_for, until__lt=claimed_until).count()
    # Scheduled work waits behind every check someone asked for, even a later one.
    return live.filter(Q(until__lt=claimed_until) | asked_for).count()


def _place_words(ahead: int) -> str:
    if ahead == 0:
        return _("1st in line, waiting for a worker")
    # ordinal() is Django's, translated with it ("2nd", German "2.").
    return ngettext("%(place)s in line (%(count)s check ahead), waiting for a worker",
                    "%(place)s in line (%(count)s checks ahead), waiting for a worker",
                    ahead) % {"place": ordinal(ahead + 1), "count": ahead}
