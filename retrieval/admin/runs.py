from django.contrib import admin

from popadmin.history_admin import HistoryAdmin
from retrieval.models import Run


@admin.register(Run)
class RunAdmin(HistoryAdmin):
    list_display = ["started", "account", "trigger", "status", "seen", "fetched", "delivered",
                    "duplicates", "deleted", "failed", "bytes", "short_error"]
    list_filter = ["status", "trigger", "started"]
    search_fields = ["account__host", "account__username", "account__owner__address", "error"]
    date_hierarchy = "started"
    list_select_related = ["account", "account__owner"]

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.error[:120] + "…") if len(obj.error) > 120 else obj.error
