"""Admin-wide pieces: the service-stopped banner and the getting-started panel."""

from django import template
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import GroupPolicy, Mailbox
from accounts.policy import DEFAULT_GROUP
from popadmin.docs_links import docs_link
from retrieval.models import GlobalSettings, OAuthProvider, RemoteAccount
from retrieval.oauth.views import redirect_uri

register = template.Library()


@register.inclusion_tag("admin/popadmin_service_banner.html", takes_context=True)
def service_banner(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return {"stopped": False}
    gs = GlobalSettings.objects.filter(pk=1).first()
    return {
        "stopped": gs is not None and not gs.service_running,
        "settings_url": reverse("admin:retrieval_globalsettings_changelist")
        if user.has_perm("retrieval.change_globalsettings") else "",
    }


def setup_steps(request=None) -> list[dict]:
    """What a new install still lacks, in the order an admin sets it up. An optional step
    is offered while the others are to do, and never keeps the panel up on its own."""
    triggers = GroupPolicy.objects.filter(allow_manual_check=True).first()
    gs = GlobalSettings.objects.filter(pk=1).first()
    return [
        {"done": Mailbox.objects.exists(), "url": reverse("admin:accounts_mailbox_add"),
         "link": _("Add a local mailbox"),
         "text": _("the address fetched mail is delivered to; link it to the user's login.")},
        {"done": RemoteAccount.objects.exists(),
         "url": reverse("admin:retrieval_remoteaccount_add"), "link": _("Add a remote account"),
         "text": _("the POP3 or IMAP mailbox to collect from. Saving tests the connection; "
                   "its page has Test connection and Check now.")},
        {"done": triggers is not None,
         "url": reverse("admin:auth_group_changelist"), "link": _("Choose what users may do"),
         "text": _("new users join the group “%(group)s”, which lets them press Check now "
                   "and checks their accounts when they log in. Tighten it, or allow "
                   "self-service (users adding their own accounts), on the group's page.")
         % {"group": DEFAULT_GROUP}},
        {"done": OAuthProvider.objects.exists(), "optional": True,
         "url": reverse("admin:retrieval_oauthprovider_add"),
         "link": _("Sign in with Google or Microsoft"),
         "text": _("Gmail, Google Workspace, Outlook.com and Microsoft 365 mailboxes refuse "
                   "plain passwords over POP3/IMAP: they need an OAuth2 provider here. Register "
                   "this server at Google or Microsoft with the redirect URI %(uri)s, then add "
                   "the provider. Optional if nobody collects from them.")
         % {"uri": redirect_uri(request) if request else _("(shown on the provider form)")}},
        {"done": gs is None or gs.service_running,
         "url": reverse("admin:retrieval_globalsettings_changelist"),
         "link": _("Mail collection"), "text": _("is running.") if gs is None or gs.service_running
         else _("is stopped: no account is checked until you start it.")},
    ]


@register.inclusion_tag("admin/popadmin_getting_started.html", takes_context=True)
def getting_started(context):
    request = context.get("request")
    if request is None or not request.user.is_superuser:
        # Only someone who can do every step gets the list of steps.
        return {"steps": []}
    steps = setup_steps(request)
    if all(s["done"] for s in steps if not s.get("optional")):
        return {"steps": []}
    return {"steps": steps, "guide": docs_link("getting-started/first-account.md")}
