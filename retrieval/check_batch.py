"""Cheap checks: many due accounts checked in one task, only those with mail fetched.

Most scheduled polls find nothing. A full session per poll (a Celery task, a
lease, a Run row, a transaction) cost about 50 ms of popadmin's CPU; here a
batch of due accounts (the dispatcher queues them together) is checked
concurrently with asyncio, and the database is touched a handful of times
per batch, not per account:

1. admission, one transaction under the admission lock (admission.admit's
   rules, for the batch): the service switch, every account's session lock
   (one round trip on PostgreSQL), still due, the global cap and the
   per-server limit counted from live leases; one lease for the batch;
2. the checks (retrieval/protocols/quick_check.py), each within its
   account's timeout, through the network-reach guard;
3. the seen-state of the accounts that listed messages, and the IMAP folder
   marks, one query each;
4. one transaction: the accounts that found nothing get their last check,
   status and next due time as an empty poll does (one statement), the
   hour's totals, the folder marks, the running totals; the others get a
   claim for a fetch and lose the lease;
5. the session locks go, then the fetch tasks are sent (with the locks still
   held a fetch would find its account busy and give it back).

A failed check is not judged here: the account is handed to the fetch
session, which signs in as it always does and so ends with the same
readable error, back-off and alert as any failed fetch. So are accounts the
check cannot sign in to (OAuth2, among others: quick_check.supported) and
accounts with refused messages due for a retry (retrieval/refusals.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F
from django.db.models.functions import Lower
from django.utils import timezone

from retrieval import check_decide, dispatcher, locks
from retrieval.models import (
    AccountClaim,
    CheckTotals,
    EffectiveSettings,
    FolderMark,
    GlobalSettings,
    HourlyStats,
    RemoteAccount,
    Run,
)
from retrieval.models.account import enabled_account_count, live_lease
from retrieval.protocols import quick_check
from retrieval.refusals import Refusals
from retrieval.sessions import params_for
from retrieval.status import jitter, poll_interval

log = logging.getLogger(__name__)


@dataclass
class Summary:
    empty: list[int] = field(default_factory=list)
    fetch: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)  # not admitted, back in line
    reasons: dict[int, str] = field(default_factory=dict)
    tls: Counter = field(default_factory=Counter)
    task_ids: dict[int, str] = field(default_factory=dict)


def check_batch(account_ids, enqueue=None) -> Summary:
    """Check these claimed, scheduled accounts; fetch those with something to do.

    `enqueue(pk, trigger)` instead of the Celery send (tests, bench)."""
    summary = Summary()
    gs = GlobalSettings.load()
    accounts = list(RemoteAccount.objects.select_related("owner", "owner__retrieval_settings")
                    .annotate(has_refused=Refusals.any_recorded())
                    .filter(pk__in=list(account_ids)).order_by("next_check", "pk"))
    knobs = {a.pk: EffectiveSettings.for_mailbox(a.owner, gs,
                                                 getattr(a.owner, "retrieval_settings", None))
             for a in accounts}
    direct, candidates = [], []
    for account in accounts:
        params = None
        why = "refused messages due for a retry" if account.has_refused else ""
        if account.auth_method != "password":
            # Before params_for: that would refresh the access token, here in the batch.
            why = "OAuth2 sign-in"
        if not why:
            try:
                params = params_for(account, knobs[account.pk].timeout_seconds, gs)
            except Exception as exc:  # e.g. a password that no longer decrypts
                why = f"cannot prepare the check: {type(exc).__name__}"
        why = why or quick_check.supported(account.protocol, params)
        if why:
            summary.reasons[account.pk] = why
            direct.append(account)
        else:
            candidates.append((account, params))
    lease_seconds = max([settings.POPADMIN_LEASE_SECONDS]
                        + [2 * knobs[a.pk].timeout_seconds + 30 for a, _ in candidates])
    admitted, held, token = _admit([a for a, _ in candidates], lease_seconds, summary)
    try:
        params = {a.pk: p for a, p in candidates if a.pk in admitted}
        outcomes = _run_checks([(admitted[pk], params[pk]) for pk in params])
        _settle([admitted[pk] for pk in params], outcomes, direct, knobs, token, summary)
    except BaseException:
        # Leases and claims are freed by the next tick once the locks are gone.
        locks.release_many(held.values())
        raise
    locks.release_many(held.values())
    _send(summary, enqueue)
    return summary


# -- 1. admission -------------------------------------------------------------

def _admit(accounts, seconds: int, summary: Summary):
    """({pk: account}, {pk: lock}, lease token) of the accounts that may be checked now;
    the rest are given back to the dispatcher's line."""
    if not accounts:
        return {}, {}, None
    by_pk = {a.pk: a for a in accounts}
    enabled = enabled_account_count(max_age=30)
    token = uuid.uuid4()
    held: dict = {}
    with transaction.atomic():
        gs = GlobalSettings.locked()
        now = timezone.now()
        if not gs.service_running:
            AccountClaim.objects.filter(account_id__in=list(by_pk)).delete()
            summary.refused += list(by_pk)
            return {}, {}, None
        held = locks.acquire_many(list(by_pk))
        rows = {pk: (enabled_, next_check, lease) for pk, enabled_, next_check, lease in
                RemoteAccount.objects.filter(pk__in=list(held))
                .values_list("pk", "enabled", "next_check", "lease_token")}
        live = (RemoteAccount.objects.filter(live_lease(now)).exclude(pk__in=list(by_pk))
                .annotate(server=Lower("host")).values("server")
                .annotate(n=Count("pk")).values_list("server", "n"))
        busy = Counter(dict(live))
        total = sum(busy.values())
        cap, per_host = gs.effective_max_concurrent(enabled), gs.max_sessions_per_host
        taken, dead = {}, []
        for pk, account in by_pk.items():
            row = rows.get(pk)
            server = account.host.lower()
            if (row is None or not row[0] or (row[1] and row[1] > now) or total >= cap
                    or (per_host and busy[server] >= per_host)):
                continue
            total += 1
            busy[server] += 1
            taken[pk] = account
            if row[2] is not None:
                dead.append(pk)  # a lease with its lock free: a dead worker's
        for pk in [pk for pk in held if pk not in taken]:
            locks.release_many([held.pop(pk)])
        if taken:
            RemoteAccount.objects.filter(pk__in=list(taken)).update(
                lease_token=token, lease_expires=now + dt.timedelta(seconds=seconds),
                pending_trigger="")
        # Every claim of the batch goes: the refused are due and back in line.
        AccountClaim.objects.filter(account_id__in=list(by_pk)).delete()
    summary.refused += [pk for pk in by_pk if pk not in taken]
    if dead:
        Run.end_dead(Run.objects.filter(account_id__in=dead).exclude(lease_token=token), now)
    return taken, held, token


# -- 2. the checks ------------------------------------------------------------

def _run_checks(pairs) -> dict:
    """{pk: (Outcome, seconds)} for each (account, params)."""
    if not pairs:
        return {}
    targets = {}
    for _account, params in pairs:
        key = (params.host.lower(), params.port, params.reach is not None)
        if key in targets:
            continue
        try:
            # Resolved once per server and batch (the guard checks each address),
            # not by a thread per connection.
            targets[key] = (params.reach(params.host, params.port, params.timeout)
                            if params.reach else _addresses(params.host, params.port))
        except Exception as exc:  # the guard's refusal: the fetch reports it in its words
            targets[key] = exc

    async def one(account, params):
        started = time.monotonic()
        found = targets[(params.host.lower(), params.port, params.reach is not None)]
        if isinstance(found, Exception):
            outcome = quick_check.Outcome(error=str(found) or type(found).__name__)
        else:
            outcome = await quick_check.check(account.protocol, params, found)
        return account.pk, outcome, time.monotonic() - started

    async def every():
        return await asyncio.gather(*(one(a, p) for a, p in pairs))

    return {pk: (outcome, seconds) for pk, outcome, seconds in asyncio.run(every())}


def _addresses(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return [host]  # the check fails and the fetch says why, in its words
    return list(dict.fromkeys(info[4][0] for info in infos))


# -- 3 and 4. what was found, written back --------------------------------------

def _settle(accounts, outcomes: dict, direct, knobs, token, summary: Summary):
    now = timezone.now()
    listed = [a.pk for a in accounts if outcomes[a.pk][0].answered and outcomes[a.pk][0].count]
    seen = check_decide.seen_by_account(listed)
    imap = [a.pk for a in accounts if a.protocol == "imap" and outcomes[a.pk][0].answered]
    marks = _marks(imap)
    empty, durations = [], []
    for account in accounts:
        outcome, seconds = outcomes[account.pk]
        summary.tls[outcome.tls] += 1
        if not outcome.answered:
            why = outcome.error or outcome.unsupported
        elif account.protocol == "pop3":
            why = check_decide.pop3_needs_fetch(account, outcome.uids,
                                                seen.get(account.pk, {}), now)
        else:
            why = check_decide.imap_needs_fetch(
                account, outcome.folders, marks.setdefault(account.pk, {}),
                seen.get(account.pk, {}),
                lambda when, a=account: _ended_well_after(a, when), now)
        if why:
            summary.reasons[account.pk] = why
            summary.fetch.append(account.pk)
        else:
            summary.empty.append(account.pk)
            empty.append(account)
            durations.append(seconds)
    summary.fetch += [a.pk for a in direct]
    with transaction.atomic():
        _write_empty(empty, knobs, token, now)
        HourlyStats.record_empty(durations, now)
        _write_marks(marks)
        handed = [pk for pk in summary.fetch if pk not in {a.pk for a in direct}]
        if handed:
            RemoteAccount.objects.filter(pk__in=handed, lease_token=token).update(
                lease_token=None, lease_expires=None)
        summary.task_ids = {pk: str(uuid.uuid4()) for pk in summary.fetch}
        AccountClaim.write(summary.fetch, now + dispatcher.claim_hold(), summary.task_ids)
        _add_totals(len(accounts), len(summary.fetch), summary.tls)


def _ended_well_after(account, when) -> bool:
    return (account.last_status == Run.Status.OK and account.last_check is not None
            and account.last_check > when)


_EMPTY_SET = ("last_check = %s, last_status = %s, last_error = '', last_error_kind = '', "
              "consecutive_failures = 0, failing_since = NULL, lease_token = NULL, "
              "lease_expires = NULL")
_EMPTY_PG = """UPDATE {table} SET next_check = v.next_check, {rest}
FROM (VALUES {values}) AS v(id, next_check)
WHERE {table}.id = v.id AND {table}.lease_token = %s"""
_EMPTY_SQLITE = """WITH v(id, next_check) AS (VALUES {values})
UPDATE {table} SET next_check = (SELECT v.next_check FROM v WHERE v.id = {table}.id), {rest}
WHERE id IN (SELECT id FROM v) AND lease_token = %s"""


def _write_empty(accounts, knobs, token, now):
    """Each empty check's bookkeeping, as finish_run writes an empty poll's, in
    one statement; conditional on the batch's lease. Only the next check
    differs between accounts (interval and jitter), so it alone rides in a
    VALUES list: the ORM's bulk_update built a CASE per row and field, which
    cost more CPU than the checks themselves."""
    if not accounts:
        return
    field = RemoteAccount._meta.get_field
    db = lambda name, value: field(name).get_db_prep_value(value, connection)  # noqa: E731
    rows = []
    for account in accounts:
        interval = poll_interval(account, knobs[account.pk])
        rows += [account.pk, db("next_check", now + interval + jitter(account.pk, interval))]
    table = connection.ops.quote_name(RemoteAccount._meta.db_table)
    # Placeholders only: every value goes as a parameter.
    values = ", ".join(["(%s, %s)"] * len(accounts))
    if connection.vendor == "postgresql":
        # The VALUES list types its columns from the first row.
        values = values.replace("(%s, %s)", "(%s::bigint, %s::timestamptz)", 1)
    template = _EMPTY_PG if connection.vendor == "postgresql" else _EMPTY_SQLITE
    sql = template.format(table=table, values=values, rest=_EMPTY_SET)
    common = [db("last_check", now), Run.Status.OK]
    # In the order the placeholders appear: SET before VALUES on PostgreSQL,
    # the VALUES of the WITH first on SQLite.
    if connection.vendor == "postgresql":
        params = common + rows + [db("lease_token", token)]
    else:
        params = rows + common + [db("lease_token", token)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _marks(account_ids) -> dict:
    marks: dict[int, dict] = {}
    if not account_ids:
        return marks
    for row in FolderMark.objects.filter(account_id__in=account_ids):
        marks.setdefault(row.account_id, {})[row.folder] = check_decide.Mark(
            row.uidvalidity, row.uidnext, row.pending_uidvalidity, row.pending_uidnext,
            row.pending_since)
    return marks


def _write_marks(marks: dict):
    rows = [FolderMark(account_id=pk, folder=folder, uidvalidity=m.uidvalidity,
                       uidnext=m.uidnext, pending_uidvalidity=m.pending_uidvalidity,
                       pending_uidnext=m.pending_uidnext, pending_since=m.pending_since)
            for pk, folders in marks.items() for folder, m in folders.items() if m.changed]
    if rows:
        FolderMark.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["account", "folder"],
            update_fields=["uidvalidity", "uidnext", "pending_uidvalidity", "pending_uidnext",
                           "pending_since"])


def _add_totals(checks: int, handed_on: int, tls: Counter):
    changes = {name: F(name) + n for name, n in (
        ("checks", checks), ("handed_on", handed_on), ("tls_full", tls["full"]),
        ("tls_resumed", tls["resumed"])) if n}
    if not changes:
        return
    if not CheckTotals.objects.filter(pk=1).update(**changes):
        CheckTotals.objects.bulk_create([CheckTotals(pk=1)], ignore_conflicts=True)
        CheckTotals.objects.filter(pk=1).update(**changes)


# -- 5. the fetches ---------------------------------------------------------------

def _send(summary: Summary, enqueue):
    """Queue the fetches claimed in _settle (a failed send releases its claim)."""
    if summary.fetch:
        dispatcher.publish([(pk, Run.Trigger.SCHEDULE, summary.task_ids[pk])
                            for pk in summary.fetch], enqueue)
