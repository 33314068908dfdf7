from django import forms
from django.contrib import admin

from delivery.models import Delivery, DeliveryTarget
from popadmin.secrets import validate_credential


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["created", "message_id", "mailbox", "recipient", "folder", "backend",
                    "result", "detail", "run"]
    list_filter = ["result", "backend"]
    search_fields = ["message_id", "mailbox__address"]
    list_select_related = ["mailbox"]
    raw_id_fields = ["run"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DeliveryTargetForm(forms.ModelForm):
    """Relay password is write-only, like remote account passwords."""

    password = forms.CharField(
        required=False, strip=False, validators=[validate_credential],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="SMTP relay login, stored encrypted. Leave empty to keep the current one.",
    )

    class Meta:
        model = DeliveryTarget
        fields = ["name", "kind", "is_default", "host", "port", "socket_path", "security",
                  "verify_tls", "username", "recipient_form", "timeout_seconds"]

    def save(self, commit=True):
        if self.cleaned_data.get("password"):
            self.instance.set_password(self.cleaned_data["password"])
        return super().save(commit)


@admin.register(DeliveryTarget)
class DeliveryTargetAdmin(admin.ModelAdmin):
    form = DeliveryTargetForm
    list_display = ["name", "kind", "is_default", "host", "port", "socket_path"]
