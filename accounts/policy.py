"""Effective group policy: what a user may do, from the groups they belong to."""

from accounts.models import GroupPolicy

# Short names callers use, and the GroupPolicy field each one reads.
PERMISSIONS = {
    "manual_check": "allow_manual_check",
    "web_login": "allow_web_login_trigger",
    "pop3_login": "allow_pop3_login_trigger",
    "imap_login": "allow_imap_login_trigger",
    "manage_own_accounts": "may_manage_own_accounts",
}


def allowed(user, what: str) -> bool:
    """True when the user is active and a superuser or in a group whose policy grants `what`."""
    field = PERMISSIONS[what]  # a typo must fail loudly, not silently deny
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return GroupPolicy.objects.filter(group__user=user, **{field: True}).exists()


def min_poll_minutes(user) -> int:
    """The shortest poll interval the user may give their own accounts: the most
    lenient of their groups that let them manage accounts (superusers: 1)."""
    if user.is_superuser:
        return 1
    minutes = GroupPolicy.objects.filter(
        group__user=user, may_manage_own_accounts=True
    ).values_list("min_poll_minutes", flat=True)
    return min(minutes, default=GroupPolicy._meta.get_field("min_poll_minutes").default)


def push_allowed(user) -> bool:
    """Whether the user's IMAP accounts may be pushed: a group can only turn push off, so
    one group without it is enough (superusers too: push costs a connection per account)."""
    if user is None:
        return True
    return not GroupPolicy.objects.filter(group__user=user, allow_push=False).exists()


# The group a new install creates (migration 0007) and new users join: it lets
# them press Check now and checks their accounts when they log in.
DEFAULT_GROUP = "Users"


def join_default_group(user):
    """Put a new user in the default group, if the admins have kept it."""
    from django.contrib.auth.models import Group

    group = Group.objects.filter(name=DEFAULT_GROUP).first()
    if group is not None:
        user.groups.add(group)
