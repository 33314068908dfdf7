from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import GroupPolicy, Mailbox
from accounts.policy import join_default_group
from popadmin.listfield import ListField


class MailboxForm(forms.ModelForm):
    aliases = ListField(lower=True, help_text=_("Other addresses delivered to this mailbox."))
    quota_mb = forms.IntegerField(
        label=_("Quota (MB), empty or 0 = no limit"), required=False, min_value=0,
        help_text=_("Mail that does not fit stays on the remote server until there is room."))

    def clean_quota_mb(self):
        return self.cleaned_data.get("quota_mb") or 0

    class Meta:
        model = Mailbox
        fields = ["user", "address", "aliases", "quota_mb", "is_postmaster", "delivery_target"]


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    form = MailboxForm
    list_display = ["address", "user", "quota", "is_postmaster", "delivery_target"]
    list_filter = ["is_postmaster"]
    search_fields = ["address", "user__username"]
    autocomplete_fields = ["user"]
    # retrieval/admin/settings.py adds the per-user retrieval settings as an inline.
    inlines = []

    @admin.display(description=_("quota"), ordering="quota_mb")
    def quota(self, obj):
        return f"{obj.quota_mb} MB" if obj.quota_mb else gettext("no limit")


class GroupPolicyInline(admin.StackedInline):
    model = GroupPolicy
    can_delete = False
    # Every group has exactly one policy: no "add another", no remove button.
    min_num = max_num = 1
    verbose_name = verbose_name_plural = _("What members of this group may do on their mail page")


# The policy lives on the group's own page, so the stock Group admin is
# replaced by one that carries the inline.
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    inlines = [GroupPolicyInline]
    # The policy (the inline) shows between these two: see
    # templates/admin/auth/group/change_form.html.
    fieldsets = [
        (None, {"fields": ["name"]}),
        (_("Administration permissions"), {
            "fields": ["permissions"],
            "description": _("For staff members of this group only: which administration "
                             "pages they may use. What members may do on their mail page is "
                             "above."),
        }),
    ]
    list_display = ["name", "manual_check", "login_triggers", "self_service"]
    list_select_related = ["policy"]

    @admin.display(description=_("Check now"), boolean=True)
    def manual_check(self, obj):
        policy = getattr(obj, "policy", None)
        return bool(policy and policy.allow_manual_check)

    @admin.display(description=_("own accounts"), boolean=True)
    def self_service(self, obj):
        policy = getattr(obj, "policy", None)
        return bool(policy and policy.may_manage_own_accounts)

    @admin.display(description=_("login triggers"))
    def login_triggers(self, obj):
        policy = getattr(obj, "policy", None)
        if policy is None:
            return "-"
        names = [name for name, on in (("web", policy.allow_web_login_trigger),
                                       ("POP3", policy.allow_pop3_login_trigger),
                                       ("IMAP", policy.allow_imap_login_trigger)) if on]
        return ", ".join(names) or "-"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """New users join the default group, so they can press Check now from the start."""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the form's own groups are saved, which would otherwise replace ours.
        if not change:
            join_default_group(form.instance)
