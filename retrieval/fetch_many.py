"""Many accounts now, side by side, as the workers would run them (`fetch --all`).

Each account runs in a process of its own (forked, so the command's settings
come along), at most `jobs` at once and at most the per-server limit on any
one server; the global cap still has the last word at each session's start
(admission.admit), so workers running beside the command keep their share.
Results come back in the order the accounts were given.

A caller inside a transaction (a test, or anyone holding uncommitted rows)
runs the accounts one after another in its own process: a child could not
see those rows.
"""

import gc
import multiprocessing
import os
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from types import SimpleNamespace

from django.db import connection, connections

from popadmin.net.tls import make_context
from retrieval.models import GlobalSettings, RemoteAccount
from retrieval.models.account import enabled_account_count


def default_jobs() -> int:
    """The global cap, but no more processes than this machine can keep busy:
    a session spends about half its time waiting on the network and the disk."""
    cap = GlobalSettings.load().effective_max_concurrent(enabled_account_count())
    return max(1, min(cap, 2 * (os.cpu_count() or 1)))


def run_many(pks: list[int], work, jobs: int):
    """Yield work(pk) for every pk, in the order given, running up to `jobs` at once."""
    if jobs <= 1 or len(pks) <= 1 or connection.in_atomic_block:
        for pk in pks:
            yield work(pk)
        return
    hosts = dict(RemoteAccount.objects.filter(pk__in=pks).values_list("pk", "host"))
    settings = GlobalSettings.load()
    per_host = settings.max_sessions_per_host or len(pks)
    prepare_children(pks, settings)
    connections.close_all()  # each child opens its own; a shared socket would mix them up
    context = multiprocessing.get_context("fork")
    # No more children than can run at once: all accounts on one server run at
    # most per_host at a time.
    slots = min(jobs, len(pks), sum(min(n, per_host) for n in Counter(
        _host(hosts, pk) for pk in pks).values()))
    # The objects made so far (Django, the models, the modules) are the parent's:
    # frozen, a child's garbage collections leave them alone instead of walking
    # (and so copying) every page of them again in every child.
    gc.freeze()
    try:
        with ProcessPoolExecutor(slots, mp_context=context) as pool:
            yield from _schedule(pool, pks, work, jobs, hosts, per_host)
    finally:
        gc.unfreeze()  # a long-lived caller's (a test's) later garbage is collected again


def _schedule(pool, pks, work, jobs, hosts, per_host):
    waiting, running, load, results = list(pks), {}, Counter(), {}
    order = iter(pks)
    expected = next(order)
    while waiting or running:
        while waiting and len(running) < jobs:
            pk = next((p for p in waiting if load[_host(hosts, p)] < per_host), None)
            if pk is None:
                break  # every waiting account's server is at its limit
            waiting.remove(pk)
            load[_host(hosts, pk)] += 1
            running[pool.submit(work, pk)] = pk
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            pk = running.pop(future)
            load[_host(hosts, pk)] -= 1
            results[pk] = future.result()
        while expected in results:
            yield results.pop(expected)
            expected = next(order, None)


def prepare_children(pks, settings):
    """What each child would otherwise build again after the fork, built once
    here: the protocol modules and the TLS contexts (the system CA store, about
    40 ms of CPU each; popadmin/net/tls.py keeps them for the process)."""
    from retrieval.protocols import imap, pop3  # noqa: F401

    ca_file = settings.effective_ca_file()
    tls = RemoteAccount.objects.filter(pk__in=pks).exclude(security=RemoteAccount.Security.NONE)
    for verify in set(tls.values_list("verify_tls", flat=True)):
        make_context(SimpleNamespace(verify_tls=verify, ca_file=ca_file))


def _host(hosts, pk) -> str:
    return (hosts.get(pk) or "").lower()
