"""Admin-wide pieces: the service-stopped banner and the getting-started panel."""

from django import template
from django.urls import reverse

from accounts.models import GroupPolicy, Mailbox
from accounts.policy import DEFAULT_GROUP
from retrieval.models import GlobalSettings, RemoteAccount

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


def setup_steps() -> list[dict]:
    """What a new install still lacks, in the order an admin sets it up."""
    triggers = GroupPolicy.objects.filter(allow_manual_check=True).first()
    gs = GlobalSettings.objects.filter(pk=1).first()
    return [
        {"done": Mailbox.objects.exists(), "url": reverse("admin:accounts_mailbox_add"),
         "link": "Add a local mailbox",
         "text": "the address fetched mail is delivered to; link it to the user's login."},
        {"done": RemoteAccount.objects.exists(),
         "url": reverse("admin:retrieval_remoteaccount_add"), "link": "Add a remote account",
         "text": "the POP3 or IMAP mailbox to collect from. Saving tests the connection; "
                 "its page has Test connection and Check now."},
        {"done": triggers is not None,
         "url": reverse("admin:auth_group_changelist"), "link": "Choose what users may do",
         "text": f"new users join the group “{DEFAULT_GROUP}”, which lets them press Check now "
                 "and checks their accounts when they log in. Tighten it, or allow self-service "
                 "(users adding their own accounts), on the group's page."},
        {"done": gs is None or gs.service_running,
         "url": reverse("admin:retrieval_globalsettings_changelist"),
         "link": "Mail collection", "text": "is running." if gs is None or gs.service_running
         else "is stopped: no account is checked until you start it."},
    ]


@register.inclusion_tag("admin/popadmin_getting_started.html", takes_context=True)
def getting_started(context):
    request = context.get("request")
    if request is None or not request.user.is_superuser:
        # Only someone who can do every step gets the list of steps.
        return {"steps": []}
    steps = setup_steps()
    return {"steps": [] if all(s["done"] for s in steps) else steps}
