"""Event triggers (Ocean's "user POP3 retrievals"): Check now and login triggers.

Which triggers a user gets is their group's policy (accounts.policy). Whether
an account is already running or was checked a moment ago is not decided
here: the dispatcher's request_check coalesces those.
"""

from accounts.models import Mailbox
from accounts.policy import allowed
from retrieval import dispatcher
from retrieval.models import RemoteAccount, Run

LOGIN_SERVICES = ("pop3", "imap")


def user_accounts(user):
    """The remote accounts a user owns through their mailbox; none for anonymous users."""
    if not user.is_authenticated:
        return RemoteAccount.objects.none()
    return RemoteAccount.objects.filter(owner__user=user)


def _request(accounts, trigger: str) -> list[int]:
    # Disabled accounts are never fetched, whatever the trigger: the admin
    # switched them off.
    ids = [a.pk for a in accounts if a.enabled]
    if not ids:
        return []
    return dispatcher.request_check(ids, str(trigger))


def check_now(accounts) -> list[int]:
    """Manual check of the given accounts (the caller checked the policy); ids queued."""
    return _request(accounts, Run.Trigger.MANUAL)


def on_web_login(user) -> list[int]:
    if not allowed(user, "web_login"):
        return []
    return _request(user_accounts(user), Run.Trigger.LOGIN)


def on_mail_login(address: str, service: str) -> list[int]:
    """A POP3/IMAP login the local mail server reported for a mailbox address or alias.

    Unknown addresses, mailboxes without a login and groups without the
    trigger all give the same empty answer: callers must not be able to tell
    them apart.
    """
    if service not in LOGIN_SERVICES:
        raise ValueError(f"service must be one of {', '.join(LOGIN_SERVICES)}")
    mailbox = Mailbox.for_address(address)
    if mailbox is None or mailbox.user is None:
        return []
    if not allowed(mailbox.user, f"{service}_login"):
        return []
    return _request(mailbox.remote_accounts.all(), Run.Trigger.LOGIN)
