"""The state of each part the service needs, for GET /healthz and the container healthchecks.

Says only whether each part works and, if not, in a few words why: no
secret, no host name of a remote account, no account data.
"""

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from retrieval import local_storage as storage
from retrieval.ops import queues

COMPONENTS = ("database", "broker", "workers", "beat", "slots", "storage")


def check(only=None) -> dict:
    """{"status": "ok"|"failing", "checks": {name: {"ok": bool, ...}}} for the named parts."""
    names = [n for n in COMPONENTS if not only or n in only]
    checks = {}
    database = _database()
    for name in names:
        if name == "database":
            checks[name] = database
        elif name == "broker":
            checks[name] = _broker()
        elif name == "storage":
            checks[name] = storage.check()  # free space of MAIL_ROOT and the spool
        elif not database["ok"]:
            checks[name] = {"ok": False, "error": "unknown: the database is unreachable"}
        elif name == "slots":
            checks[name] = _slots()
        else:
            checks[name] = _processes(name.rstrip("s"))
    healthy = all(c["ok"] for c in checks.values())
    return {"status": "ok" if healthy else "failing", "checks": checks}


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except DatabaseError as exc:
        return {"ok": False, "error": f"unreachable ({type(exc).__name__})"}


def _broker() -> dict:
    try:
        return {"ok": True, "queued": queues.depths()}
    except queues.BrokerUnavailable as exc:
        return {"ok": False, "error": f"unreachable ({exc})"}


def _slots() -> dict:
    """Slots of the cap: sessions running, and claims of queued tasks (a claimed
    slot is not a running one). Failing when tasks have waited past the
    pick-up grace while no session runs: nothing takes the work."""
    from retrieval.ops import queries

    now = timezone.now()
    sessions = queries.sessions(now)
    report = {"ok": True, "running": sessions["running"], "cap": sessions["cap"],
              "claimed_waiting": sessions["waiting"], "claimed_received": sessions["received"]}
    if sessions["stale"] and not sessions["running"]:
        report["ok"] = False
        report["error"] = (f"{sessions['stale']} claimed slot(s) waiting for a worker past the "
                           "pick-up grace, and no session running")
    return report


def _processes(role: str) -> dict:
    from retrieval.models import Heartbeat

    now = timezone.now()
    alive = Heartbeat.alive(now).filter(role=role).count()
    expected = settings.POPADMIN_EXPECTED_WORKERS if role == "worker" else 0
    if expected and alive < expected:
        return {"ok": False, "alive": alive, "expected": expected,
                "error": f"only {alive} of {expected} expected workers alive"}
    if alive:
        return {"ok": True, "alive": alive, **({"expected": expected} if expected else {})}
    last = Heartbeat.objects.filter(role=role).order_by("-last_seen").first()
    if last is None:
        return {"ok": False, "alive": 0, "error": f"no {role} has ever reported"}
    return {"ok": False, "alive": 0,
            "error": f"no {role} heard from since {last.last_seen.isoformat()}"}
