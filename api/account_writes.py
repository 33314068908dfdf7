"""Adding, editing and deleting remote accounts through the API, as the pages do.

A user's token goes through the self-service form (UserAccountForm: their group's
policy, minimum interval and push, restricted reach, certificate checks on); a staff
member's whole-installation token through the admin's form (AdminAccountForm) with
their admin permissions. Both forms run the same validation, write-only password
and network-reach guard as on the pages. Unlike the pages, saving does not test the
connection first: a script learns the outcome from the account's status after
Check now.
"""

from __future__ import annotations

from rest_framework.exceptions import ValidationError

from api import form_data
from api.base import installation, require_perm
from retrieval import credential_reuse, dispatcher, status
from retrieval.admin.account_form import AdminAccountForm
from retrieval.models import RemoteAccount, Run
from retrieval.oauth.tokens import has_grant
from retrieval.selfservice_forms import UserAccountForm, group_limits
from retrieval.views.access import require_self_service
from retrieval.views.selfservice import save_account


def form_for(request, account: RemoteAccount, body):
    if installation(request):
        action = "change" if account.pk else "add"
        require_perm(request, f"retrieval.{action}_remoteaccount")
        return form_data.fill(AdminAccountForm, account, body)
    require_self_service(request.user)
    if account.pk is None:
        account.owner = request.user.mailbox
    return form_data.fill(UserAccountForm, account, body,
                          **group_limits(request.user))


def save(request, account: RemoteAccount, body) -> RemoteAccount:
    """Validate `body` with the page's form and save; ValidationError with its messages."""
    adding = account.pk is None
    form = form_for(request, account, body)
    if not form.is_valid():
        raise ValidationError(form_data.errors(form))
    account = form.save(commit=False)
    if (form.server_changed and account.auth_method != RemoteAccount.AuthMethod.PASSWORD
            and has_grant(account)):
        # Before the save: no run may send the grant's token to the new server.
        credential_reuse.forget_sign_in(account, why="server changed through the API")
    if installation(request):
        account.save()
        form.save_m2m()
        if not adding and form.changed_data:
            status.reset_after_edit(account)
        if adding and account.enabled:
            dispatcher.request_check([account.pk], Run.Trigger.ADMIN, cooldown=False)
    else:
        save_account(form, account, adding)
    return account


def delete(request, account: RemoteAccount) -> None:
    if installation(request):
        require_perm(request, "retrieval.delete_remoteaccount")
    else:
        require_self_service(request.user)
    account.delete()
