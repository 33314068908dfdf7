from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse, reverse_lazy
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from popadmin import audit
from retrieval import autoconfig, credential_reuse, dispatcher, imported_state, status
from retrieval.admin import account_test, display, live_status
from retrieval.admin.account_form import CONNECTION_FIELDS, AdminAccountForm
from retrieval.models import GlobalSettings, RemoteAccount, Run
from retrieval.models.account import live_claim
from retrieval.oauth import offer
from retrieval.oauth.permissions import may_connect
from retrieval.oauth.tokens import has_grant, needs_sign_in

TLS_WARNING = display.TLS_WARNING


@admin.register(RemoteAccount)
class RemoteAccountAdmin(admin.ModelAdmin):
    form = AdminAccountForm
    change_form_template = "admin/retrieval/remoteaccount/change_form.html"
    # Failing since sits under the badge: one column fewer keeps the list on a 1366 px screen.
    list_display = ["remote_login", "owner", "kind", "checked", "status_badge",
                    "last_error_display"]
    list_display_links = ["remote_login"]
    list_filter = ["last_status", "enabled", "protocol", "security", "verify_tls", "mode"]
    search_fields = ["host", "username", "owner__address", "name"]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    actions = ["check_now"]
    readonly_fields = ["next_check", "last_check", "last_status", "last_error",
                       "consecutive_failures", "failing_since", "lease_expires", "history_link",
                       "created_by_user"]
    # What most accounts need first; the rest behind a disclosure ("Advanced").
    fieldsets = [
        (None, {"fields": ["owner", "name", "enabled"]}),
        (_("Server"), {"fields": ["protocol", "security", "host", "port", "username",
                               "auth_method", "password", "folders"]}),
        (_("Delivery"), {"fields": ["target_folder", "keep_policy", "keep_days"]}),
        (_("Advanced"), {"classes": ["collapse"],
                      "fields": ["verify_tls", "network_restricted", "mode", "delivery_target",
                                 "folder_map", "max_message_mb", "poll_minutes", "push"]}),
        (_("Status"), {"classes": ["collapse"], "fields": readonly_fields}),
    ]


    class Media:
        css = {"all": ["popadmin/admin.css"]}
        # The JavaScript catalog first: the form's script shows its words in the page's language.
        js = [reverse_lazy("javascript-catalog"), "popadmin/account_form.js",
              "popadmin/account_status.js"]

    # --- the list: which accounts are broken, and why ---

    @admin.display(description=_("account"), ordering="username")
    def remote_login(self, obj):
        # The login tells rows on one server apart; the host and label sit under it.
        sub = f"{obj.host} · {obj.name}" if obj.name else obj.host
        return format_html('{}<span class="popadmin-sub">{}</span>', obj.username, sub)

    @admin.display(description=_("type"), ordering="protocol")
    def kind(self, obj):
        return display.kind_label(obj)

    @admin.display(description=_("last check"), ordering="last_check")
    def checked(self, obj):
        return display.when(obj.last_check)

    @admin.display(description=_("status"), ordering="last_status")
    def status_badge(self, obj):
        if not obj.failure_summary:
            return display.badge(obj)
        return format_html('{}<span class="popadmin-sub">{}</span>', display.badge(obj),
                           obj.failure_summary)

    @admin.display(description=_("last error"))
    def last_error_display(self, obj):
        return display.problem(obj) or "-"

    @admin.display(description=_("retrieval history"))
    def history_link(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:retrieval_run_changelist") + f"?account__id__exact={obj.pk}"
        count = obj.runs.count()
        return format_html('<a href="{}">{}</a>', url, ngettext(
            "%(count)s runs", "%(count)s runs", count) % {"count": count})

    # --- the account page: status, Test connection and Check now on top ---

    def get_urls(self):
        own = [
            path("add/test-connection/", self.admin_site.admin_view(self.test_connection_view),
                 name="retrieval_remoteaccount_test_new"),
            path("lookup/", self.admin_site.admin_view(self.lookup_view),
                 name="retrieval_remoteaccount_lookup"),
            path("live-status/", self.admin_site.admin_view(self.live_status_view),
                 name="retrieval_remoteaccount_live"),
            path("<path:object_id>/test-connection/",
                 self.admin_site.admin_view(self.test_connection_view),
                 name="retrieval_remoteaccount_test"),
            path("<path:object_id>/check-now/", self.admin_site.admin_view(self.check_now_view),
                 name="retrieval_remoteaccount_check"),
            path("<path:object_id>/retry-refused/",
                 self.admin_site.admin_view(self.retry_refused_view),
                 name="retrieval_remoteaccount_retry_refused"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra_context = {**(extra_context or {}),
                             **live_status.status_context(self, request, obj)}
        return super().change_view(request, object_id, form_url, extra_context)

    def live_status_view(self, request):
        return live_status.live_status_view(self, request)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # Save tests the connection first (AdminAccountForm); a fresh class per request.
        form.tester = staticmethod(lambda account: account_test.probe_words(request.user,
                                                                            account))
        return form

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        context["lookup_url"] = reverse("admin:retrieval_remoteaccount_lookup")
        context["test_url"] = (
            reverse("admin:retrieval_remoteaccount_test", args=[obj.pk]) if obj is not None
            else reverse("admin:retrieval_remoteaccount_test_new"))
        if obj is not None and obj.tls_unverified:
            messages.warning(request, gettext(
                "%(account)s: %(warning)s; anyone on the network path can read this account's "
                "mail and password.") % {"account": obj, "warning": gettext(TLS_WARNING)})
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def _acted_on(self, request, object_id):
        account = get_object_or_404(RemoteAccount, pk=object_id)
        # Both buttons act on the account: a view-only staff user may not.
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        return account

    def _back(self, account):
        return redirect(reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))

    @method_decorator(require_POST)
    def retry_refused_view(self, request, object_id):
        """Forget the failed attempts at the account's refused messages: the next
        check asks the server for them again (retrieval/refusals.py)."""
        account = self._acted_on(request, object_id)
        uids = list(account.refused_messages.values_list("uid", flat=True))
        count, _deleted = account.refused_messages.filter(uid__in=uids).delete()
        audit.record(account, "retry refused messages", uids=uids)
        messages.success(request, ngettext(
            "%(account)s: %(count)s message(s) will be tried again at the next check.",
            "%(account)s: %(count)s message(s) will be tried again at the next check.",
            count) % {"account": account, "count": count})
        return self._back(account)

    @method_decorator(require_POST)
    def test_connection_view(self, request, object_id=None):
        """Test what the form shows (JSON, nothing saved); a bare POST tests the saved
        account and comes back to its page."""
        if object_id is None:
            if not self.has_add_permission(request):
                raise PermissionDenied
            account = RemoteAccount()
        else:
            account = self._acted_on(request, object_id)
        if "host" not in request.POST:
            if account.pk is None:
                return JsonResponse({"ok": False, "errors": {"host": ["Required."]}}, status=400)
            self.report_probe(request, account)
            return self._back(account)
        form_class = self.get_form(request, account if account.pk else None,
                                   change=account.pk is not None)
        form_class.tester = None  # built to test, not to save
        answer, code = account_test.test_on_screen(request.user, form_class(
            request.POST, request.FILES, instance=account))
        return JsonResponse(answer, status=code)

    def lookup_view(self, request):
        """Server settings suggested for an address (the self-service lookup), as JSON."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        address = request.GET.get("address", "")
        found = autoconfig.suggest(address) if "@" in address else []
        return JsonResponse({"suggestions": [
            {"protocol": s.protocol, "security": s.security, "host": s.host, "port": s.port,
             "label": s.label, "source": s.source, "oauth": s.oauth} for s in found],
            "sign_in": sign_in_for(request, found)})

    @method_decorator(require_POST)
    def check_now_view(self, request, object_id):
        account = self._acted_on(request, object_id)
        queued = dispatcher.request_check([account.pk], Run.Trigger.ADMIN)
        audit.record_check_now([account], queued, via="admin")
        if queued:
            self.message_user(request, gettext("Check started: the result shows here and in "
                                               "the retrieval history when it is done."))
        else:
            messages.warning(request, gettext("Not started: %(reason)s")
                             % {"reason": not_started_reason(account)})
        return self._back(account)

    def report_probe(self, request, account):
        self.report_outcome(request, account_test.probe_words(request.user, account))

    def report_outcome(self, request, outcome, saved=False):
        if outcome["limited"]:
            lead = (gettext("Saved, but Test connection was not run") if saved
                    else gettext("Not tested"))
            messages.warning(request, gettext("%(lead)s. %(text)s") % {
                "lead": lead, "text": outcome["text"]})
        elif outcome["ok"]:
            self.message_user(request, outcome["text"])
        else:
            messages.warning(request, gettext("Test connection failed: %(text)s")
                             % {"text": outcome["text"]})

    def save_model(self, request, obj, form, change):
        dropped = (form.server_changed and obj.auth_method != RemoteAccount.AuthMethod.PASSWORD
                   and has_grant(obj))
        if dropped:
            # Before the save: no run may send the grant's token to the new server.
            credential_reuse.forget_sign_in(obj, why="server changed in the admin")
            messages.warning(request, credential_reuse.SIGNED_OUT)
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            status.reset_after_edit(obj)
        if change and (notice := imported_state.keep_policy_notice(obj, form.changed_data)):
            messages.warning(request, notice)
        if needs_sign_in(obj):
            # Nothing to test before the sign-in: a new OAuth2 account, or one just
            # switched to OAuth2, goes on to it (response_add/_change).
            obj.go_sign_in = not change or dropped or "auth_method" in form.changed_data
            return
        if form.test_outcome is not None:
            self.report_outcome(request, form.test_outcome, saved=True)
        elif form.saved_anyway:
            messages.warning(request, gettext("Saved without a passing Test connection: the "
                                              "account is checked, and its error shown, until "
                                              "it works."))
        if obj.enabled and (not change or CONNECTION_FIELDS & set(form.changed_data)):
            self.queue_first_check(request, obj)

    def queue_first_check(self, request, obj):
        """A new or reconfigured account is checked at once, and the page says so (a Check
        now pressed next would otherwise find this check and start nothing)."""
        queued = dispatcher.request_check([obj.pk], Run.Trigger.ADMIN, cooldown=False)
        audit.record_check_now([obj], queued, via="admin save")
        if queued:
            self.message_user(request, gettext("A check with these settings has started: its "
                                               "result shows on the account's page."))
        elif GlobalSettings.load().service_running:
            self.message_user(request, gettext("A check of this account was already queued or "
                                               "running; the next one, due now, uses these "
                                               "settings."))

    # --- an OAuth2 account goes on to its sign-in once saved ---

    def response_add(self, request, obj, post_url_continue=None):
        return self._to_sign_in(request, obj) or super().response_add(
            request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._to_sign_in(request, obj) or super().response_change(request, obj)

    def _to_sign_in(self, request, obj):
        if "_addanother" in request.POST or not getattr(obj, "go_sign_in", False):
            return None
        if not may_connect(request.user, obj):
            return None
        self.message_user(request, gettext("Saved %(account)s. Sign in at the provider to let "
                                           "popadmin read it.") % {"account": obj})
        back = reverse("admin:retrieval_remoteaccount_change", args=[obj.pk])
        return redirect(reverse("oauth-connect", args=[obj.pk]) + "?" + urlencode({"next": back}))

    # Starting a retrieval acts on the account: a view-only staff user may not.
    @admin.action(description=_("Check now"), permissions=["change"])
    def check_now(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        queued = dispatcher.request_check(ids, Run.Trigger.ADMIN)
        audit.record_check_now(queryset, queued, via="admin")
        skipped = len(ids) - len(queued)
        message = ngettext("Check started for %(count)s account(s).",
                           "Check started for %(count)s account(s).",
                           len(queued)) % {"count": len(queued)}
        if skipped:
            message += " " + gettext("%(count)s skipped: disabled, already queued or running, "
                                     "checked moments ago, or the service is stopped.") % {
                                         "count": skipped}
        self.message_user(request, message)


def sign_in_for(request, suggestions) -> dict | None:
    """For a Google or Microsoft address: the sign-in to offer (a provider of that kind
    is set up), or what the administrator must set up first, with the form's address."""
    preset = next((s.oauth for s in suggestions if s.oauth), "")
    if preset not in offer.BRANDS:
        return None
    brand = offer.BRANDS[preset]
    found = offer.offer_for(suggestions)
    if found is not None:
        return {"offer": True, "label": found.label, "method": RemoteAccount.AuthMethod.XOAUTH2,
                "provider": found.provider.name,
                "chosen": gettext("%(label)s: chosen, press Save") % {"label": found.label},
                "text": gettext("%(brand)s refuses plain passwords here. Save with %(label)s: the "
                                "next page signs the mailbox in at %(brand)s (provider "
                                "“%(provider)s”).") % {
                    "brand": brand, "label": found.label, "provider": found.provider.name}}
    configure = reverse("admin:retrieval_oauthprovider_add") + f"?preset={preset}"
    may_configure = request.user.has_perm("retrieval.add_oauthprovider")
    values = {"brand": brand}
    if may_configure:
        text = gettext("%(brand)s refuses plain passwords here, and Sign in with %(brand)s is "
                       "not set up: add an OAuth2 provider with the %(brand)s preset (its page "
                       "shows the redirect URI to register at %(brand)s), then choose the "
                       "OAuth2 sign-in method.") % values
    else:
        text = gettext("%(brand)s refuses plain passwords here, and Sign in with %(brand)s is "
                       "not set up: ask an administrator who may add an OAuth2 provider with "
                       "the %(brand)s preset (its page shows the redirect URI to register at "
                       "%(brand)s), then choose the OAuth2 sign-in method.") % values
    if preset == "google":
        text += " " + gettext("Or type an app password, where Google still allows them.")
    return {"offer": False, "brand": brand,
            "configure_url": configure if may_configure else "",
            "configure_label": gettext("Set up Sign in with %(brand)s") % values,
            "text": text}


def dispatcher_busy(account) -> bool:
    """A check of the account is queued or running (a save or Check now started it)."""
    now = timezone.now()
    return bool(account.pending_trigger) or RemoteAccount.objects.filter(
        live_claim(now) | Q(pk=account.pk, lease_token__isnull=False, lease_expires__gt=now),
        pk=account.pk).exists()


def not_started_reason(account) -> str:
    if not GlobalSettings.load().service_running:
        return gettext("mail collection is stopped. Start it in the global retrieval settings.")
    account.refresh_from_db()
    if not account.enabled:
        return gettext("the account is disabled. Tick Enabled and save first.")
    if dispatcher_busy(account):
        return gettext("a check of this account is already queued or running (saving a change "
                       "starts one): its result shows here when it is done.")
    return gettext("a check of this account is already queued or running, or it was checked "
                   "moments ago. Wait a moment and look at the status again.")
