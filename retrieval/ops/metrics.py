"""GET /metrics: Prometheus text format, computed from the database at scrape time.

A custom collector rather than counters in process memory: web and worker
run as many processes, and any one of them may answer a scrape; the
database is the one place all of them agree on. Totals come from
HourlyStats, so they survive run pruning.
"""

from django.db.models import Count, Q, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from retrieval.models import CheckTotals, Heartbeat, HourlyStats, PushLatency, RemoteAccount
from retrieval.models.account import live_lease
from retrieval.ops import push, queries, queues


class DatabaseCollector:
    def collect(self):
        fields = ["messages", "bytes", "seconds", "runs_ok", "runs_partial", "runs_error",
                  *(f"duration_le_{b}" for b in HourlyStats.DURATION_BUCKETS)]
        sums = {k: v or 0 for k, v in
                HourlyStats.objects.aggregate(**{f: Sum(f) for f in fields}).items()}
        yield CounterMetricFamily("popadmin_messages_fetched", "Messages fetched from remote "
                                  "mailboxes.", value=sums["messages"])
        yield CounterMetricFamily("popadmin_bytes_fetched", "Bytes fetched from remote "
                                  "mailboxes.", value=sums["bytes"])
        runs = CounterMetricFamily("popadmin_runs", "Finished retrieval sessions by result.",
                                   labels=["status"])
        for status, name in HourlyStats.STATUS_FIELDS.items():
            runs.add_metric([status], sums[name])
        yield runs
        yield self._durations(sums)
        yield from self._checks()
        yield self._accounts()
        now = timezone.now()
        yield GaugeMetricFamily("popadmin_sessions_running", "Retrieval sessions running now.",
                                value=RemoteAccount.objects.filter(live_lease(now)).count())
        claimed = GaugeMetricFamily("popadmin_slots_claimed", "Slots of the cap held by queued "
                                    "tasks, not running sessions: waiting for a worker, or "
                                    "received by one and not started.", labels=["state"])
        counts = queries.claimed(now)
        for state in ("waiting", "received"):
            claimed.add_metric([state], counts[state])
        yield claimed
        yield self._queues()
        yield GaugeMetricFamily("popadmin_workers_alive", "Celery workers with a fresh "
                                "heartbeat.", value=Heartbeat.alive(now).filter(
                                    role=Heartbeat.Role.WORKER).count())
        yield GaugeMetricFamily("popadmin_beat_alive", "Celery beat processes with a fresh "
                                "heartbeat.", value=Heartbeat.alive(now).filter(
                                    role=Heartbeat.Role.BEAT).count())
        yield from self._push(now)

    def _push(self, now):
        idle = GaugeMetricFamily("popadmin_idle_connections", "IDLE (push) connections held "
                                 "by the watchers, per server.", labels=["server"])
        for row in push.idle_per_host(now):
            idle.add_metric([row["server"]], row["n"])
        yield idle
        yield CounterMetricFamily("popadmin_push_reconnects", "Idle connections lost and "
                                  "signed in again.", value=push.summary(now)["reconnects"])
        buckets, count, total = PushLatency.cumulative()
        yield HistogramMetricFamily(
            "popadmin_push_latency_seconds", "From new mail seen by a watcher (EXISTS) to the "
            "end of the session that delivered it.",
            buckets=[(str(float(b)), n) for b, n in buckets] + [("+Inf", count)],
            sum_value=total)

    def _checks(self):
        totals = CheckTotals.objects.filter(pk=1).first() or CheckTotals()
        yield CounterMetricFamily("popadmin_checks", "Cheap checks of due accounts (many per "
                                  "task); an empty one also counts as an ok run.",
                                  value=totals.checks)
        yield CounterMetricFamily("popadmin_checks_handed_on", "Checks that found something "
                                  "to do, or failed, and handed the account to a fetch.",
                                  value=totals.handed_on)
        handshakes = CounterMetricFamily("popadmin_check_tls_handshakes", "TLS handshakes of "
                                         "cheap checks, by whether the server resumed the "
                                         "session kept from the last connection.",
                                         labels=["resumed"])
        handshakes.add_metric(["true"], totals.tls_resumed)
        handshakes.add_metric(["false"], totals.tls_full)
        yield handshakes

    def _durations(self, sums):
        total = sums["runs_ok"] + sums["runs_partial"] + sums["runs_error"]
        buckets, running = [], 0
        for bound in HourlyStats.DURATION_BUCKETS:
            running += sums[f"duration_le_{bound}"]
            buckets.append((str(float(bound)), running))
        # Runs recorded before the buckets existed, and longer ones, fall in +Inf only.
        buckets.append(("+Inf", total))
        return HistogramMetricFamily("popadmin_run_duration_seconds",
                                     "Duration of finished retrieval sessions.",
                                     buckets=buckets, sum_value=sums["seconds"])

    def _accounts(self):
        counts = RemoteAccount.objects.aggregate(
            ok=Count("pk", filter=Q(enabled=True, consecutive_failures=0)),
            failing=Count("pk", filter=Q(enabled=True, consecutive_failures__gt=0)),
            disabled=Count("pk", filter=Q(enabled=False)),
        )
        family = GaugeMetricFamily("popadmin_accounts", "Remote accounts by state.",
                                   labels=["state"])
        for state, value in counts.items():
            family.add_metric([state], value)
        return family

    def _queues(self):
        family = GaugeMetricFamily("popadmin_queue_depth", "Tasks waiting in each queue "
                                   "(-1: the broker did not answer).", labels=["queue"])
        try:
            depths = queues.depths()
        except queues.BrokerUnavailable:
            depths = dict.fromkeys(queues.QUEUES, -1)
        for name, value in depths.items():
            family.add_metric([name], value)
        return family


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
