from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from popadmin.history_admin import HistoryAdmin
from retrieval.history import run_summary
from retrieval.models import Run


@admin.register(Run)
class RunAdmin(HistoryAdmin):
    list_display = ["started", "account_label", "trigger", "status", "seen", "fetched", "delivered",
                    "duplicates", "deleted", "failed", "bytes", "short_error"]
    list_filter = ["status", "trigger", "started"]
    search_fields = ["account_label", "account__host", "account__username",
                     "account__owner__address", "worker", "error"]
    # The run page: duration, bytes, trigger, worker, retry state, notes and the
    # messages delivered (retrieval/history.py), above the raw fields.
    change_form_template = "admin/retrieval/run/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra = run_summary(run) if run is not None else {}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})
    def get_fieldsets(self, request, obj=None):
        # The summary above says it all in words; the stored fields stay one click away.
        return [(_("Stored record"), {"classes": ["collapse"],
                                   "fields": self.get_fields(request, obj)})]

    date_hierarchy = "started"
    list_select_related = ["account", "account__owner"]

    @admin.display(description=_("error"))
    def short_error(self, obj):
        return (obj.error[:120] + "…") if len(obj.error) > 120 else obj.error
