"""The fault soak's figures from what it observed (bench/fault_soak.py); no I/O here.

A *sample* is one look at the service: its time and the accounts that were
waiting then (due, with mail on the server), or None when the database did
not answer. A *delivery* is the time a message landed in a local Maildir and
the account it came from.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    t: float
    waiting: frozenset | None  # account ids due with mail on the server; None: unknown


@dataclass(frozen=True)
class Stall:
    seconds: float
    start: float
    ongoing: bool  # still stalled when the window closed


NO_STALL = Stall(0.0, 0.0, False)


def longest_stall(samples: list[Sample], deliveries: list[float], start: float, end: float,
                  account=None) -> Stall:
    """The longest stretch within [start, end] during which mail was waiting
    and nothing was delivered: globally, or for one `account` (then
    `deliveries` are that account's).

    A stretch begins at the first sample (at or after `start`) that finds mail
    waiting since the last delivery, and ends at the next delivery, or at the
    first sample that finds nothing waiting any more (e.g. the account is
    backing off after an error). Unknown samples (database down) neither begin
    nor end one.
    """
    deliveries = sorted(d for d in deliveries if start <= d <= end)
    best, since, i, previous = NO_STALL, None, 0, start
    for sample in samples:
        if not start <= sample.t <= end:
            continue
        # Deliveries since the previous sample end a stretch at the first of them.
        if i < len(deliveries) and deliveries[i] <= sample.t:
            if since is not None:
                best = max(best, Stall(deliveries[i] - since, since, False), key=_seconds)
                since = None
            while i < len(deliveries) and deliveries[i] <= sample.t:
                i += 1
        previous = sample.t
        if sample.waiting is None:
            continue
        waiting = account in sample.waiting if account is not None else bool(sample.waiting)
        if waiting and since is None:
            since = sample.t
        elif not waiting and since is not None:
            best = max(best, Stall(sample.t - since, since, False), key=_seconds)
            since = None
    if since is not None:
        best = max(best, Stall(previous - since, since, True), key=_seconds)
    return best


def longest_account_wait(samples: list[Sample], deliveries: dict, start: float,
                         end: float) -> tuple[object, Stall]:
    """(account, its Stall): the one account that waited longest with mail due
    and nothing delivered from it; `deliveries` maps account -> times."""
    accounts = set()
    for sample in samples:
        if sample.waiting and start <= sample.t <= end:
            accounts |= sample.waiting
    worst = (None, NO_STALL)
    for account in sorted(accounts):
        stall = longest_stall(samples, deliveries.get(account, []), start, end, account)
        if stall.seconds > worst[1].seconds:
            worst = (account, stall)
    return worst


def first_after(times: list[float], start: float) -> float | None:
    """Seconds from `start` to the first time at or after it, or None."""
    later = [t for t in times if t >= start]
    return min(later) - start if later else None


def _seconds(stall: Stall) -> float:
    return stall.seconds
