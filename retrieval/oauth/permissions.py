"""Who may connect (or disconnect) an account's, or a delivery target's, OAuth2 sign-in."""

from accounts.policy import allowed


def may_connect(user, account) -> bool:
    """Staff who may change remote accounts, or the account's owner if their group allows
    self-service. Everyone else, anonymous included, may not."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff and user.has_perm("retrieval.change_remoteaccount"):
        return True
    owner_user = getattr(account.owner, "user_id", None)
    return owner_user is not None and owner_user == user.pk and allowed(
        user, "manage_own_accounts"
    )


def may_connect_target(user) -> bool:
    """An IMAP APPEND delivery target is shared by every mailbox routed to it: only active
    staff who may change delivery targets sign it in (no self-service)."""
    return bool(
        user is not None and user.is_authenticated and user.is_active and user.is_staff
        and user.has_perm("delivery.change_deliverytarget")
    )
