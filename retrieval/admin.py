from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin import MailboxAdmin
from popadmin import audit
from retrieval import dispatcher
from retrieval.forms import RemoteAccountForm
from retrieval.models import GlobalSettings, RemoteAccount, Run, UserSettings
from retrieval.models.account import enabled_account_count

TLS_WARNING = "⚠ TLS certificate NOT verified"


@admin.register(GlobalSettings)
class GlobalSettingsAdmin(admin.ModelAdmin):
    readonly_fields = ["effective_max_concurrent_display"]
    fieldsets = [
        ("Service", {"fields": ["service_running"]}),
        (
            "Downloads",
            {
                "fields": [
                    ("max_concurrent_downloads", "effective_max_concurrent_display"),
                    "max_sessions_per_host",
                    "connection_retries",
                    "retry_seconds",
                    "timeout_seconds",
                    "messages_per_download",
                    "duplicate_check",
                    "poll_minutes",
                ]
            },
        ),
        (
            "Catch-all recipients",
            {"fields": ["parse_headers", "header_fields", "accepted_domains", "reroute_unknown",
                        "max_recipients"]},
        ),
        (
            "Network reach of restricted accounts",
            {"fields": ["restrict_all_accounts", "allowed_internal_networks"]},
        ),
    ]

    @admin.display(description="effective maximum")
    def effective_max_concurrent_display(self, obj):
        return obj.effective_max_concurrent(enabled_account_count())

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not GlobalSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One record: the list page is pointless, go straight to it. The
        # override skips the permission check of the list view: do it here,
        # before load() may create the record.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        obj = GlobalSettings.load()
        return redirect(reverse("admin:retrieval_globalsettings_change", args=[obj.pk]))


@admin.register(UserSettings)
class UserSettingsAdmin(admin.ModelAdmin):
    list_display = ["mailbox", "poll_minutes", "timeout_seconds", "messages_per_download"]
    autocomplete_fields = ["mailbox"]


@admin.register(RemoteAccount)
class RemoteAccountAdmin(admin.ModelAdmin):
    form = RemoteAccountForm
    list_display = ["__str__", "owner", "protocol", "security_display", "enabled",
                    "last_check", "last_status", "failure_summary", "next_check"]
    list_filter = ["protocol", "security", "enabled", "last_status", "verify_tls", "mode"]
    search_fields = ["host", "username", "owner__address", "name"]
    autocomplete_fields = ["owner"]
    actions = ["check_now"]

    class Media:
        css = {"all": ["popadmin/admin.css"]}
    readonly_fields = ["last_check", "last_status", "last_error", "consecutive_failures",
                       "failing_since", "lease_expires", "history_link"]
    fieldsets = [
        (None, {"fields": ["owner", "name", "enabled", "network_restricted"]}),
        ("Server", {"fields": ["protocol", "security", "host", "port", "verify_tls",
                               "username", "password", "folders"]}),
        ("Delivery", {"fields": ["mode", "target_folder", "keep_policy", "keep_days",
                                 "max_message_mb", "poll_minutes", "next_check"]}),
        ("Status", {"fields": readonly_fields}),
    ]

    @admin.display(description="retrieval history")
    def history_link(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:retrieval_run_changelist") + f"?account__id__exact={obj.pk}"
        return format_html('<a href="{}">{} runs</a>', url, obj.runs.count())

    @admin.display(description="security", ordering="security")
    def security_display(self, obj):
        if obj.tls_unverified:
            return format_html('{} <strong class="popadmin-danger">{}</strong>',
                               obj.get_security_display(), TLS_WARNING)
        if obj.security == RemoteAccount.Security.NONE:
            return format_html('<strong class="popadmin-danger">{}</strong>', "⚠ plain text")
        return obj.get_security_display()

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None and obj.tls_unverified:
            messages.warning(request, f"{obj}: {TLS_WARNING}; anyone on the network path "
                                      "can read this account's mail and password.")
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    # Starting a retrieval acts on the account: a view-only staff user may not.
    @admin.action(description="Check now", permissions=["change"])
    def check_now(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        queued = dispatcher.request_check(ids, Run.Trigger.ADMIN)
        audit.record_check_now(queryset, queued, via="admin")
        skipped = len(ids) - len(queued)
        message = f"Check started for {len(queued)} account(s)."
        if skipped:
            message += (f" {skipped} skipped: disabled, already queued or running, "
                        "checked moments ago, or the service is stopped.")
        self.message_user(request, message)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["started", "account", "trigger", "status", "seen", "fetched", "delivered",
                    "duplicates", "deleted", "failed", "bytes", "short_error"]
    list_filter = ["status", "trigger", "started"]
    search_fields = ["account__host", "account__username", "account__owner__address", "error"]
    date_hierarchy = "started"
    list_select_related = ["account", "account__owner"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.error[:120] + "…") if len(obj.error) > 120 else obj.error


class UserSettingsInline(admin.StackedInline):
    model = UserSettings
    can_delete = True
    verbose_name_plural = "retrieval settings (empty fields inherit the global settings)"


# The mailbox page belongs to accounts/, which knows nothing of retrieval:
# the per-user retrieval settings are attached to it from here.
MailboxAdmin.inlines = [*MailboxAdmin.inlines, UserSettingsInline]
