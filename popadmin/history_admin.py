"""History rows (runs, deliveries) are read-only in the admin: no add, change or delete."""

from django.contrib import admin


class HistoryAdmin(admin.ModelAdmin):
    """Nobody adds, edits or deletes a history row by hand.

    Deleting the account or mailbox the rows belong to still takes them with
    it: Django asks every related model's admin for the delete permission
    while it collects what a delete cascades to, so the permission is only
    withheld on this model's own pages.
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        match = getattr(request, "resolver_match", None)
        own_page = f"{self.opts.app_label}_{self.opts.model_name}_"
        if match is None or (match.url_name or "").startswith(own_page):
            return False
        return super().has_delete_permission(request, obj)
