from django.contrib import admin

from accounts.models import Mailbox
from retrieval.models import UserSettings


class UserSettingsInline(admin.StackedInline):
    model = UserSettings
    can_delete = True
    verbose_name_plural = "retrieval settings (empty fields inherit the global settings)"


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = ["address", "user", "quota_mb", "is_postmaster"]
    list_filter = ["is_postmaster"]
    search_fields = ["address", "user__username"]
    autocomplete_fields = ["user"]
    inlines = [UserSettingsInline]
