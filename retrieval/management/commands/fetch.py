"""Run retrieval now, in the foreground, through the engine the workers use.

A push (retrieval/push.py) that arrives while the command's session runs asks
for one more fetch, as it does of a worker's session. The command runs that
session itself, so that it ends with the pushed mail delivered even where no
worker runs; a push during that second session is handed to the dispatcher,
as after any worker's session, so the command never loops.
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections

from retrieval import admission, engine, push
from retrieval.fetch_many import default_jobs, run_many
from retrieval.models import RemoteAccount, Run

# Why an account did not run (admission.admit): the --json status and the
# words a person reads. A per-server refusal names the server ({host}).
REFUSALS = {
    admission.BUSY: ("busy", "busy"),
    admission.SERVICE_STOPPED: ("stopped", "service stopped"),
    admission.NO_SLOT: ("no_slot", "no free slot"),
    admission.NO_SERVER_SLOT: ("no_server_slot", "no free slot on {host}"),
    admission.NOT_DUE: ("not_due", "not due"),
    admission.GONE: ("gone", "account deleted"),
}
# The database restarting or a dropped connection, mid-session: the mail is
# safe (nothing is deleted before it is stored), the run is ended by the next
# session of the account or the reaper.
LOST = (OperationalError, InterfaceError)
LOST_WORDS = ("the database connection was lost ({}); mail not yet delivered is still on "
              "the server, and the run is ended by the next check of the account")


def first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class Command(BaseCommand):
    help = "Fetch mail now for the given accounts (or --all enabled ones)."
    # Django's system checks load every URL and view (a fifth of the command's
    # start-up) and judge the web site, not a fetch; `manage.py check` runs them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--account", dest="ids", type=int, action="append", default=[], metavar="ID"
        )
        parser.add_argument("--all", dest="every", action="store_true", help="all enabled accounts")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="one JSON object per account"
        )
        parser.add_argument(
            "--jobs", type=int, default=None, metavar="N",
            help="accounts at once (default: the global cap, at most twice the CPU count; "
                 "never more than the per-server limit on one server)",
        )

    def handle(self, *args, **options):
        try:
            self.fetch(*args, **options)
        except DatabaseError as exc:
            # One line, not a traceback: nothing more is known than that.
            raise CommandError(f"database unreachable: {first_line(exc)}") from None

    def fetch(self, *args, ids, every, as_json, jobs=None, **options):
        if not ids and not every:
            raise CommandError("give --account ID (repeatable) or --all")
        accounts = RemoteAccount.objects.all()
        if every:
            ids += list(accounts.filter(enabled=True).values_list("pk", flat=True))
        missing = set(ids) - set(accounts.filter(pk__in=ids).values_list("pk", flat=True))
        if missing:
            raise CommandError(f"no such account: {', '.join(map(str, sorted(missing)))}")
        failures = 0
        jobs = default_jobs() if jobs is None else jobs
        for result in run_many(list(dict.fromkeys(ids)), fetch_one, jobs):
            failures += result["run"] is None or result["status"] in (Run.Status.ERROR, "lost")
            # A follow-up that could not start is not a failure: its account stays in line.
            failures += result.get("again", {}).get("status") in (Run.Status.ERROR, "lost")
            self.stdout.write(json.dumps(result, sort_keys=True) if as_json else human(result))
        if failures:
            raise CommandError(f"{failures} account(s) failed", returncode=1)


def fetch_one(pk, trigger=Run.Trigger.COMMAND) -> dict:
    """One account's session and what it came to (run in a child by run_many); with
    "again": the session a push during it asked for."""
    try:
        run = engine.run_account(pk, trigger)
        if not run:
            return refusal(pk, run.reason)
        result = summary(pk, run)
        if trigger != Run.Trigger.COMMAND:
            if not Run.objects.filter(pk=run.pk).exists():
                result["run"] = None  # empty, so not kept in the history (as for any push)
            push.after_session(pk, run)
            return result
        pushed, _ = push.take_mark(pk, run)
    except LOST as exc:
        return lost(pk, exc)
    if pushed:
        result["again"] = fetch_one(pk, Run.Trigger.PUSH)
    return result


def lost(pk, exc) -> dict:
    # A new connection for the next account, if the database is back.
    close_old_connections()
    return {"account": pk, "run": None, "status": "lost",
            "error": LOST_WORDS.format(first_line(exc))}


def refusal(pk, reason):
    status, words = REFUSALS.get(reason, ("refused", reason))
    if "{host}" in words:
        host = RemoteAccount.objects.filter(pk=pk).values_list("host", flat=True).first()
        words = words.format(host=host)
    return {"account": pk, "run": None, "status": status, "refused": words, "error": reason}


def summary(pk, run):
    result = {"account": pk, "run": run.pk, "status": run.status}
    result.update({name: getattr(run, name) for name in Run.COUNTERS})
    result["error"] = run.error
    result["notes"] = run.notes
    return result


def human(result, who=None):
    who = who or f"account {result['account']}"
    if result["status"] == "lost":
        line = f"{who}: {result['error']}"
    elif "refused" in result:
        line = f"{who}: {result['refused']} ({result['error']})"
    else:
        counts = ", ".join(f"{k} {result[k]}" for k in Run.COUNTERS)
        line = f"{who}: {result['status']} ({counts})"
        line += f": {result['error']}" if result["error"] else ""
    if "again" in result:
        line += "\n" + human(result["again"], f"{who}, once more for mail pushed meanwhile")
    return line
