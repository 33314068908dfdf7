"""The fault soak's figures and printout (bench/fault_soak.py)."""

import os
from collections import Counter

from bench._soak_measure import NO_STALL, first_after, longest_account_wait, longest_stall
from bench._soak_watch import db, run_errors


def header(soak) -> str:
    a = soak.args
    return (f"fault soak: {a.accounts} accounts (POP3S, every 4th IMAPS) checked every minute, "
            f"{a.messages} messages to start, {a.rate:g} new a second, {a.size} B each; "
            f"2 workers x {a.concurrency}, beat, dispatcher tick {a.tick:g} s, "
            f"account timeout {a.timeout} s, claim hold {a.claim_hold} s, "
            f"heartbeat {a.heartbeat:g} s; "
            f"PostgreSQL :{soak.pg.port}, Redis :{soak.redis.port}, "
            f"mail root on a {a.disk_mb} MB tmpfs ({os.cpu_count()} CPUs, "
            f"load {os.getloadavg()[0]:.1f})")


def ledger(soak) -> dict:
    """Where every seeded message is now. The server is read before the local
    Maildirs: a message deleted at the source in between is already stored."""
    seeded = soak.seeder.ids()
    server = set().union(*soak.watch.ledger.on_server().values())
    soak.watch.deliveries += soak.watch.ledger.scan_local()
    disk = soak.watch.ledger.on_disk()
    return {"seeded": len(seeded), "on_disk": len(seeded & set(disk)),
            "on_server": len(seeded & server - set(disk)),
            "lost": sorted(seeded - server - set(disk)),
            "duplicates": sum(n - 1 for n in disk.values() if n > 1)}


def fault_figures(soak, key, label, began, back, end, result) -> dict:
    watch, tick = soak.watch, soak.args.tick
    now = ledger(soak)
    dups_before = getattr(soak, "duplicates_so_far", 0)
    soak.duplicates_so_far = now["duplicates"]
    times = [t for t, _ in watch.deliveries]
    stall = longest_stall(watch.samples, times, back, end)
    account, wait = longest_account_wait(watch.samples, watch.delivered_by_account(), back, end)
    claims = [(age, n) for t, age, n in watch.claims if back <= t <= end]
    # After the fault's height (soak.peak), the middle of a stall longer than two ticks.
    worst = stall.start + stall.seconds / 2 if stall.seconds > 2 * tick else None
    health = [(t, code, said) for t, code, said in watch.health.seen if began <= t <= end]
    statuses, errors = db(lambda: run_errors(began, end), (Counter(), Counter()))
    return {
        "key": key, "label": label, "at": began - soak.started, "lasted": back - began,
        "window": end - back,
        "error": result.get("error"), "lost": len(now["lost"]), "lost_ids": now["lost"][:10],
        "duplicates": now["duplicates"] - dups_before, "stall": stall,
        "account": account, "wait": wait, "first": first_after(times, back),
        "claim": max(claims, default=(0.0, 0)), "delivered": sum(back <= t <= end for t in times),
        "health": Counter(f"{code} {said}" for _, code, said in health),
        "alerts": sorted({a for t, view in watch.views if began <= t <= end
                          for a in view["alerts"]}),
        "peak": soak.peak, "stalled": worst and (
            worst - back, _nearest(health, worst, lambda h: h[0]),
            _nearest(watch.views, worst, lambda v: v[0])),
        "statuses": statuses, "errors": errors,
        "exits": [(t - began, name, line) for t, name, line in soak.exits if began <= t <= end],
    }


def _nearest(items, t, when):
    return min(items, key=lambda item: abs(when(item) - t), default=None)


def _ticks(stall, tick) -> str:
    more = "+" if stall.ongoing else ""
    return f"{stall.seconds:.1f}{more} s ({stall.seconds / tick:.1f}{more} ticks)"


def fault_block(r: dict, tick: float) -> str:
    lines = [f"\n== {r['label']}: {r['lasted']:.1f} s, then {r['window']:.0f} s watched "
             f"(at {r['at'] / 60:.1f} min)"]
    if r["error"]:
        lines.append(f"   the fault itself failed: {r['error']}")
    lost = f"lost {r['lost']}" + (f" (ids {r['lost_ids']})" if r["lost"] else "")
    lines.append(f"   {lost}, duplicates {r['duplicates']}, delivered in the window "
                 f"{r['delivered']}")
    first = "none" if r["first"] is None else f"{r['first']:.1f} s"
    lines.append(f"   stall after the fault ended: {_ticks(r['stall'], tick)}; first delivery "
                 f"after {first}; longest one account waited: {_ticks(r['wait'], tick)}"
                 + (f" (account {r['account']})" if r["account"] else ""))
    age, n = r["claim"]
    lines.append(f"   oldest queued claim seen: {age:.0f} s ({n} claims live then)")
    seen = ", ".join(f"{what} x{n}" for what, n in r["health"].most_common())
    lines.append(f"   /healthz during fault and window: {seen or 'no answer recorded'}")
    if r["peak"]:
        health, view = r["peak"]
        lines.append(f"   at the fault's height: {_operator(health, view)}")
    if r["stalled"]:
        after, health, view = r["stalled"]
        lines.append(f"   in the stall, {after:.0f} s after the fault ended: "
                     f"{_operator(health and health[1:], view and view[1])}")
    lines.append(f"   alerts open at some point in the window: {', '.join(r['alerts']) or 'none'}")
    statuses = ", ".join(f"{s} {n}" for s, n in sorted(r["statuses"].items()))
    lines.append(f"   runs kept (an empty poll keeps none): {statuses or 'none'}")
    for error, n in r["errors"].most_common(3):
        lines.append(f"     {n} x {error}")
    for t, name, line in r["exits"]:
        lines.append(f"   {name} exited by itself at +{t:.0f} s, restarted: {line}")
    return "\n".join(lines)


def _operator(health, view) -> str:
    """`health`: (status, what /healthz said); `view`: operator_view() or None."""
    said = f"/healthz {health[-2]} {health[-1]}" if health else "/healthz not recorded"
    if view is None:
        return f"{said}; alerts unknown (database unreachable)"
    alerts = ", ".join(view["alerts"]) or "none"
    return f"{said}; open alerts: {alerts}; failing accounts: {view['failing']}"


def final_ledger(soak) -> dict:
    now = ledger(soak)
    now["lost"] = len(now["lost"])
    return now


def table(results: list[dict], final: dict, tick: float, seconds: float) -> str:
    head = (f"\n{'fault':30} {'lost':>4} {'dup':>4} {'stall s':>8} {'ticks':>6} "
            f"{'1st del s':>9} {'acct wait s':>11} {'old claim s':>11}  /healthz  alerts")
    rows = [head]
    for r in results:
        stall, wait = r["stall"], r["wait"] or NO_STALL
        first = "-" if r["first"] is None else f"{r['first']:.1f}"
        codes = "/".join(sorted({what.split(" ", 1)[0] for what in r["health"]})) or "-"
        alerts = len(r["alerts"])
        more = "+" if stall.ongoing else ""
        rows.append(f"{r['label']:30} {r['lost']:>4} {r['duplicates']:>4} "
                    f"{stall.seconds:>7.1f}{more or ' '} {stall.seconds / tick:>6.1f} "
                    f"{first:>9} {wait.seconds:>11.1f} {r['claim'][0]:>11.0f}  {codes:9} {alerts}")
    slow = [r["label"] for r in results if r["stall"].seconds > 2 * tick]
    rows.append(f"\n{final['seeded']} seeded: {final['on_disk']} in the local Maildirs, "
                f"{final['on_server']} still on the server, {final['lost']} lost, "
                f"{final['duplicates']} duplicates ({seconds / 60:.1f} min)")
    rows.append("no stall longer than two ticks after a fault: "
                + ("yes" if not slow else "NO: " + ", ".join(slow)))
    return "\n".join(rows)
