"""Celery beat schedule, kept in code so every deployment runs the same one."""


def beat_schedule(dispatch_seconds: float) -> dict:
    """The periodic tasks; settings.py builds CELERY_BEAT_SCHEDULE from it."""
    return {
        "dispatch-due-accounts": {
            "task": "retrieval.tasks.dispatch_due",
            "schedule": dispatch_seconds,
            # A backlog of ticks is worthless: a late tick is replaced by the next.
            "options": {"expires": dispatch_seconds},
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
