"""Admin pages for OAuth2 providers and the accounts' grants (imported by retrieval/admin.py)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from retrieval.models import OAuthGrant, OAuthProvider
from retrieval.oauth import flows
from retrieval.oauth.tokens import grant_status
from retrieval.oauth.views import redirect_uri


class OAuthProviderForm(forms.ModelForm):
    client_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored encrypted; never shown again. Leave empty to keep the current one "
        "(or for a public client without a secret)."),
    )

    class Meta:
        model = OAuthProvider
        fields = [
            "name", "preset", "tenant", "client_id", "authorization_endpoint", "token_endpoint",
            "device_endpoint", "revocation_endpoint", "introspection_endpoint", "scopes",
            "refresh_token_days", "warn_days",
        ]

    def clean(self):
        data = super().clean()
        provider = OAuthProvider(**{
            f: data.get(f, "") for f in ("preset", "tenant", "authorization_endpoint",
                                        "token_endpoint", "device_endpoint",
                                        "revocation_endpoint", "scopes")
        })
        provider.apply_preset()
        if not provider.token_endpoint or not (
            provider.authorization_endpoint or provider.device_endpoint
        ):
            raise ValidationError(
                "Choose Google or Microsoft, or enter the token endpoint and an authorization "
                "or device endpoint."
            )
        return data

    def save(self, commit=True):
        provider = super().save(commit=False)
        if self.cleaned_data.get("client_secret"):
            provider.set_client_secret(self.cleaned_data["client_secret"])
        provider.apply_preset()
        if commit:
            provider.save()
        return provider


@admin.register(OAuthProvider)
class OAuthProviderAdmin(admin.ModelAdmin):
    form = OAuthProviderForm
    list_display = ["name", "preset", "client_id", "has_secret", "grant_count"]
    fieldsets = [
        (None, {"fields": ["name", "preset", "tenant", "client_id", "client_secret"]}),
        (_("Endpoints (filled in for Google and Microsoft)"), {"fields": [
            "authorization_endpoint", "token_endpoint", "device_endpoint",
            "revocation_endpoint", "introspection_endpoint", "scopes",
        ]}),
        (_("Expiry"), {"fields": ["refresh_token_days", "warn_days"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        # The redirect URI the provider must know, where the client id is typed.
        first, *rest = super().get_fieldsets(request, obj)
        uri = format_html("Register this redirect URI with the provider (Google Cloud console "
                          "or Microsoft Entra app registration): <code id=\"redirect-uri\">{}"
                          "</code>", redirect_uri(request))
        return [(first[0], {**first[1], "description": uri}), *rest]

    @admin.display(boolean=True, description=_("client secret"))
    def has_secret(self, obj):
        return bool(obj.client_secret_encrypted)

    @admin.display(description=_("connected accounts"))
    def grant_count(self, obj):
        return obj.grants.count()


@admin.register(OAuthGrant)
class OAuthGrantAdmin(admin.ModelAdmin):
    """Grants are made by signing in, never typed in: read-only, deletable (which revokes)."""

    list_display = ["account", "target", "provider", "connected_as", "connected_at", "state"]
    list_select_related = ["account", "target", "provider"]
    readonly_fields = ["account", "target", "provider", "connected_as", "connected_at", "scopes",
                       "access_expires", "refresh_expires", "state", "reconnect"]
    fields = readonly_fields
    actions = ["revoke_selected"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("state"))
    def state(self, obj):
        status = grant_status(obj.subject)
        return status.warning or _("connected")

    @admin.display(description="")
    def reconnect(self, obj):
        url = (reverse("oauth-connect", args=[obj.account_id]) if obj.account_id
               else reverse("oauth-target-connect", args=[obj.target_id]))
        return format_html('<a class="button" href="{}">{}</a>', url, _("Reconnect"))

    def delete_model(self, request, obj):
        flows.disconnect(obj.subject)

    def delete_queryset(self, request, queryset):
        for grant in queryset.select_related("account", "target"):
            flows.disconnect(grant.subject)

    @admin.action(description=_("Revoke and forget the selected sign-ins"),
                  permissions=["delete"])
    def revoke_selected(self, request, queryset):
        count = 0
        for grant in queryset.select_related("account", "target"):
            count += flows.disconnect(grant.subject)
        messages.success(request, ngettext("Revoked %(count)s sign-in(s).",
                                           "Revoked %(count)s sign-in(s).", count) % {
            "count": count})
