"""Start and stop the retrieval service, and who last did."""

from auditlog.models import LogEntry

from retrieval import dispatcher
from retrieval.models import GlobalSettings


def set_running(running: bool) -> GlobalSettings:
    """Switch the service. Saved as a model change, so the audit trail records the
    signed-in actor when called inside a request."""
    gs = GlobalSettings.load()
    if gs.service_running != running:
        gs.service_running = running
        gs.save(update_fields=["service_running"])
        if running:
            dispatcher.dispatch_soon()
    return gs


def last_switch() -> LogEntry | None:
    """The latest audit entry that changed the service switch (None: never switched)."""
    entries = LogEntry.objects.get_for_model(GlobalSettings).select_related("actor")
    for entry in entries.order_by("-timestamp")[:50]:
        if "service_running" in (entry.changes_dict or {}):
            return entry
    return None
