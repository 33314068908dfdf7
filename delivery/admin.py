from django import forms
from django.contrib import admin
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from delivery.models import Delivery, DeliveryTarget
from popadmin.history_admin import HistoryAdmin
from popadmin.secrets import validate_credential
from popadmin.templatetags.dates import when_text


@admin.register(Delivery)
class DeliveryAdmin(HistoryAdmin):
    """Where did message X go? Searchable by Message-ID, subject, sender and recipient."""

    # Fits 1366 px: long senders and subjects are cut (the row's page has them whole),
    # the message's own Date header is on that page too, and run and account are
    # named, not numbered.
    list_display = ["created", "sender_display", "subject_display", "size_display", "mailbox",
                    "folder", "result", "run_link", "account_link"]
    list_filter = ["result", "backend"]
    search_fields = ["message_id", "subject", "sender", "recipient", "mailbox__address"]
    list_select_related = ["mailbox", "run"]
    readonly_fields = ["run_link", "account_link"]
    fields = ["created", "sender", "subject", "sent", "size", "message_id", "mailbox",
              "recipient", "folder", "backend", "remote_uid", "result", "detail", "run_link",
              "account_link"]

    @admin.display(description=_("from"), ordering="sender")
    def sender_display(self, obj):
        return Truncator(obj.sender).chars(40)

    @admin.display(description=_("subject"), ordering="subject")
    def subject_display(self, obj):
        return Truncator(obj.subject).chars(60) if obj.subject else "(no subject)"

    @admin.display(description=_("size"), ordering="size")
    def size_display(self, obj):
        return filesizeformat(obj.size)

    @admin.display(description=_("run started"))
    def run_link(self, obj):
        if obj.run_id is None:
            return "-"
        url = reverse("admin:retrieval_run_change", args=[obj.run_id])
        return format_html('<a href="{}">{}</a>', url, when_text(obj.run.started))

    # Names only the admin URL, not retrieval's models: delivery stays below retrieval.
    @admin.display(description=_("remote account"))
    def account_link(self, obj):
        if obj.run is None:
            return "-"
        url = reverse("admin:retrieval_remoteaccount_change", args=[obj.run.account_id])
        name = obj.run.account_label or f"account {obj.run.account_id}"
        return format_html('<a href="{}">{}</a>', url, Truncator(name).chars(40))


class DeliveryTargetForm(forms.ModelForm):
    """Relay password is write-only, like remote account passwords."""

    password = forms.CharField(
        required=False, strip=False, validators=[validate_credential],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("SMTP relay or IMAP mailbox login (an app password for Gmail), stored "
        "encrypted. Leave empty to keep the current one."),
    )

    class Meta:
        model = DeliveryTarget
        fields = ["name", "kind", "is_default", "host", "port", "socket_path", "security",
                  "verify_tls", "username", "auth_method", "recipient_form", "timeout_seconds",
                  "webmail_url"]

    def save(self, commit=True):
        if self.cleaned_data.get("password"):
            self.instance.set_password(self.cleaned_data["password"])
        return super().save(commit)


@admin.register(DeliveryTarget)
class DeliveryTargetAdmin(admin.ModelAdmin):
    form = DeliveryTargetForm
    list_display = ["name", "kind", "is_default", "host", "port", "socket_path"]
    readonly_fields = ["oauth_sign_in"]

    class Media:
        js = ["popadmin/target_form.js"]  # the password field only where it is used

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        fields.remove("oauth_sign_in")
        if obj is not None and obj.auth_method != DeliveryTarget.AuthMethod.PASSWORD:
            fields.insert(fields.index("auth_method") + 1, "oauth_sign_in")
        return fields

    @admin.display(description=_("OAuth2 sign-in"))
    def oauth_sign_in(self, obj):
        # The grant is the retrieval app's; only its reverse relation and the connect
        # page's URL name are used here (delivery must not import retrieval).
        grant = getattr(obj, "oauth_grant", None)
        if grant is None:
            state, label = _("not signed in: connect"), _("Connect")
        elif grant.expired:
            state, label = _("sign-in expired: reconnect"), _("Reconnect")
        else:
            state = _("signed in as %(who)s") % {"who": grant.connected_as}
            label = _("Reconnect")
        url = reverse("oauth-target-connect", args=[obj.pk])
        return format_html('{} <a class="button" href="{}">{}</a>', state, url, label)
