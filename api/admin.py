"""API tokens in the admin: staff see every user's tokens and revoke a leaked one. Nobody
makes or edits a token here; a user makes their own on the API tokens page, where it is
shown once."""

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from api import tokens
from api.models import ApiToken

STATES = {"active": _("active"), "revoked": _("revoked"), "expired": _("expired")}


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "scope", "created", "expires", "last_used",
                    "state"]
    list_filter = ["writes", "staff"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    fields = ["name", "user", "prefix", "scope", "created", "expires", "last_used", "revoked"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description=_("access"))
    def scope(self, obj):
        access = _("read-write") if obj.writes else _("read-only")
        return f"{access}{_(', whole installation')}" if obj.staff else access

    @admin.display(description=_("state"))
    def state(self, obj):
        return STATES[obj.state(timezone.now())]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request, queryset):
        live = [row for row in queryset if row.revoked is None]
        for row in live:
            tokens.revoke(row)
        self.message_user(request, ngettext(
            "%(count)s token(s) revoked: they no longer work.",
            "%(count)s token(s) revoked: they no longer work.", len(live)) % {"count": len(live)})
