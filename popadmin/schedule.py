"""Celery beat schedule, kept in code so every deployment runs the same one."""

import os

# Seconds between dispatcher ticks; tests shorten it.
DISPATCH_SECONDS = float(os.environ.get("POPADMIN_DISPATCH_SECONDS", "5"))

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
    "prune-old-history": {
        "task": "retrieval.tasks.prune_history",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    "evaluate-alerts": {
        "task": "retrieval.tasks.evaluate_alerts",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
