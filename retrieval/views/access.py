"""Who may see and change which account: every user view gets its objects here."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from accounts.policy import allowed
from retrieval import triggers
from retrieval.models import RemoteAccount


def own_account(request, pk) -> RemoteAccount:
    """The user's own account; anyone else's is simply not there (404)."""
    return get_object_or_404(triggers.user_accounts(request.user), pk=pk)


def require(user, what: str, why: str):
    if not allowed(user, what):
        raise PermissionDenied(why)


def require_manual_check(user):
    require(user, "manual_check", _("Your group does not allow manual checks."))


def require_self_service(user):
    require(user, "manage_own_accounts",
            _("Your group does not let you add or edit remote accounts; ask an administrator."))
    if getattr(user, "mailbox", None) is None:
        raise PermissionDenied(_("No mailbox is linked to your login; ask an administrator."))
