from django.contrib import admin

from delivery.models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["created", "message_id", "mailbox", "folder", "backend", "result", "run"]
    list_filter = ["result", "backend"]
    search_fields = ["message_id", "mailbox__address"]
    list_select_related = ["mailbox"]
    raw_id_fields = ["run"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
