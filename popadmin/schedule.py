"""Celery beat schedule, kept in code so every deployment runs the same one."""

DISPATCH_SECONDS = 15.0

BEAT_SCHEDULE = {
    "dispatch-due-accounts": {
        "task": "retrieval.tasks.dispatch_due",
        "schedule": DISPATCH_SECONDS,
        # A backlog of ticks is worthless: a late tick is replaced by the next.
        "options": {"expires": DISPATCH_SECONDS},
    },
    "reap-expired-leases": {
        "task": "retrieval.tasks.reap_stale_runs",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
