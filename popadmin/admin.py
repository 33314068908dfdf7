"""The audit trail in the admin: read-only for everyone, superusers included."""

from auditlog.admin import LogEntryAdmin
from auditlog.models import LogEntry
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class AuditEntryAdmin(LogEntryAdmin):
    list_display = ["created", "resource_url", "action", "event", "msg_short", "user_url",
                    "remote_addr"]
    list_filter = [*LogEntryAdmin.list_filter]
    search_fields = [*LogEntryAdmin.search_fields, "remote_addr"]
    readonly_fields = [*LogEntryAdmin.readonly_fields, "event", "remote_addr"]
    fieldsets = [
        (None, {"fields": ["created", "user_url", "remote_addr", "resource_url"]}),
        (_("Changes"), {"fields": ["action", "event", "msg"]}),
    ]

    @admin.display(description=_("event"))
    def event(self, obj):
        data = obj.additional_data or {}
        via = f" ({data['via']})" if data.get("via") else ""
        return f"{data['event']}{via}" if data.get("event") else ""

    # The trail stays as written: nobody edits or deletes it here. Deleting
    # a user or an account keeps its entries (auditlog stores no cascade).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# The product's name on every admin page and on the login page.
admin.site.site_header = "popadmin"
admin.site.site_title = "popadmin"
admin.site.index_title = _("Administration")
# The app list beside every page takes a fifth of a 1366 px screen that the
# account list needs; the index and the breadcrumbs lead everywhere anyway.
admin.site.enable_nav_sidebar = False
