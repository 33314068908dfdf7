import os
import ssl

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.admin import MailboxAdmin
from popadmin.listfield import ListField
from retrieval import dispatcher
from retrieval.models import GlobalSettings, UserSettings
from retrieval.models.account import enabled_account_count
from retrieval.models.settings import OVERRIDABLE


class GlobalSettingsForm(forms.ModelForm):
    header_fields = ListField(label=_("Header fields"),
                              help_text=_("Parsed in this order. Empty: the standard list."))
    accepted_domains = ListField(lower=True, label=_("Accepted recipient domains"),
                                 help_text=_("Catch-all accounts only deliver to addresses in "
                                 "these domains, e.g. example.com."))
    allowed_internal_networks = ListField(
        label=_("Internal hosts and networks restricted accounts may reach"),
        help_text=_("Networks and host names, e.g. 10.1.2.0/24 or mail.internal.example. "
        "Cloud metadata addresses stay unreachable."))

    allowed_ports = ListField(
        label=_("Ports restricted accounts may reach"), required=False,
        help_text=_("E.g. 995. Empty: the environment's POPADMIN_ALLOWED_PORTS "
        "(now {})."))

    # Shown (see GlobalSettingsAdmin.get_fieldsets) only once a save would stop the
    # service: turning it off is asked twice, with no script needed.
    confirm_stop = forms.BooleanField(
        label=_("Yes, stop mail collection"), required=False,
        help_text=_("No remote account is checked and Check now starts nothing until "
                    "Service running is ticked again. Checks already running finish."))

    class Meta:
        model = GlobalSettings
        # The admin's fieldsets name the rest.
        fields = ["header_fields", "accepted_domains", "allowed_internal_networks",
                  "allowed_ports", "ca_file"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ports = ", ".join(str(p) for p in settings.POPADMIN_ALLOWED_PORTS)
        self.fields["allowed_ports"].help_text = self.fields["allowed_ports"].help_text.format(
            ports)
        if "ca_file" in self.fields:
            self.fields["ca_file"].help_text = gettext(
                "A PEM file of CA certificates trusted besides the system's, e.g. an internal "
                "CA. Empty: the environment's POPADMIN_CA_FILE (now %(now)s).") % {
                    "now": settings.POPADMIN_CA_FILE or gettext("none: the system store only")}

    def stops_the_service(self) -> bool:
        return bool(self.instance.pk and self.instance.service_running
                    and "service_running" in self.cleaned_data
                    and not self.cleaned_data["service_running"])

    def clean(self):
        cleaned = super().clean()
        if self.stops_the_service() and not cleaned.get("confirm_stop"):
            enabled = enabled_account_count()
            self.add_error("service_running", ngettext(
                "Saving this stops mail collection: no remote account is checked "
                "(%(count)s enabled account waits) until it is turned on again. "
                "Tick “Yes, stop mail collection” below and save again, or tick Service "
                "running to keep it on.",
                "Saving this stops mail collection: no remote account is checked "
                "(%(count)s enabled accounts wait) until it is turned on again. "
                "Tick “Yes, stop mail collection” below and save again, or tick Service "
                "running to keep it on.", enabled) % {"count": enabled})
        return cleaned

    def clean_allowed_ports(self):
        ports = []
        for entry in self.cleaned_data.get("allowed_ports") or []:
            if not str(entry).isdigit() or not 1 <= int(entry) <= 65535:
                raise forms.ValidationError(
                    gettext("%(entry)s is not a port number (1 to 65535).") % {"entry": entry})
            ports.append(int(entry))
        return sorted(set(ports))

    def clean_ca_file(self):
        path = (self.cleaned_data.get("ca_file") or "").strip()
        if path and not os.path.isfile(path):
            raise forms.ValidationError(gettext("No readable file at %(path)s.") % {"path": path})
        if path:
            try:
                ssl.create_default_context(cafile=path)
            except (OSError, ssl.SSLError) as exc:
                raise forms.ValidationError(
                    gettext("%(path)s is not a PEM file of CA certificates (%(error)s).")
                    % {"path": path, "error": exc}) from exc
        return path


@admin.register(GlobalSettings)
class GlobalSettingsAdmin(admin.ModelAdmin):
    form = GlobalSettingsForm
    readonly_fields = ["effective_max_concurrent_display"]
    fieldsets = [
        (_("Service"), {"fields": ["service_running"]}),
        (
            _("Downloads"),
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
            _("Catch-all recipients"),
            {"fields": ["parse_headers", "header_fields", "accepted_domains", "reroute_unknown",
                        "max_recipients"]},
        ),
        (
            _("Network reach of restricted accounts"),
            {"fields": ["restrict_all_accounts", "allowed_internal_networks", "allowed_ports"]},
        ),
        (
            _("Trusted certificates"),
            {"fields": ["ca_file"],
             "description": _("The extra CA file applies to every TLS connection popadmin "
                              "opens: to remote accounts (POP3 and IMAP, TLS or STARTTLS) and "
                              "to delivery targets (SMTP with TLS or STARTTLS, IMAP APPEND). "
                              "LMTP targets speak no TLS. An account or target with "
                              "certificate checking off trusts any certificate.")},
        ),
        (
            _("History and alerts"),
            {"fields": ["history_days", "alert_after_minutes", "alert_owners", "alert_admins"]},
        ),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.method == "POST" and obj is not None and obj.service_running \
                and not request.POST.get("service_running"):
            # This save turns the service off: ask, beside the box that does it.
            service = (fieldsets[0][0], {**fieldsets[0][1],
                                         "fields": ["service_running", "confirm_stop"]})
            fieldsets = [service, *fieldsets[1:]]
        return fieldsets

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.service_running and "service_running" in form.changed_data:
            dispatcher.dispatch_soon()  # switched on: what fell due starts now, not next tick

    @admin.display(description=_("effective maximum"))
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


def inherited_words(name: str, value) -> str:
    """A global value as the per-user form shows it: "10 minutes", "all", "yes"."""
    if name == "duplicate_check":
        return gettext("yes") if value else gettext("no")
    if name == "messages_per_download" and not value:
        return gettext("all")
    if name == "poll_minutes":
        return ngettext("%(count)s minutes", "%(count)s minutes", value) % {"count": value}
    if name in ("timeout_seconds", "retry_seconds"):
        return gettext("%(count)s s") % {"count": value}
    return str(value)


class UserSettingsForm(forms.ModelForm):
    """Empty fields inherit: each says what it inherits, from the global settings now."""

    class Meta:
        model = UserSettings
        fields = ["mailbox", *OVERRIDABLE]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        gs = GlobalSettings.load()
        for name, field in self.fields.items():
            if not hasattr(gs, name) or name == "mailbox":
                continue
            words = gettext("inherit: %(value)s") % {
                "value": inherited_words(name, getattr(gs, name))}
            if name == "duplicate_check":
                field.widget.choices = [("unknown", words), ("true", gettext("Yes")),
                                        ("false", gettext("No"))]
            else:
                field.widget.attrs["placeholder"] = words
                field.help_text = gettext("Empty: %(words)s (the global setting).") % {
                    "words": words}


@admin.register(UserSettings)
class UserSettingsAdmin(admin.ModelAdmin):
    form = UserSettingsForm
    list_display = ["mailbox", "poll_minutes", "timeout_seconds", "messages_per_download"]
    autocomplete_fields = ["mailbox"]


class UserSettingsInline(admin.StackedInline):
    model = UserSettings
    form = UserSettingsForm
    can_delete = True
    verbose_name_plural = _("retrieval settings (empty fields inherit the global settings)")


# The mailbox page belongs to accounts/, which knows nothing of retrieval:
# the per-user retrieval settings are attached to it from here.
MailboxAdmin.inlines = [*MailboxAdmin.inlines, UserSettingsInline]
