"""Group policies: effective permissions, and editing them on the Group admin page."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.urls import reverse

from accounts.models import GroupPolicy, Mailbox
from accounts.policy import PERMISSIONS, allowed
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db



def grant(user, name, **fields):
    group = Group.objects.create(name=name)
    GroupPolicy.objects.create(group=group, **fields)
    user.groups.add(group)


def test_it_allows_what_any_group_allows(django_user_model):
    user = django_user_model.objects.create_user("member")
    grant(user, "a", allow_manual_check=True)
    grant(user, "b", allow_imap_login_trigger=True)

    assert allowed(user, "manual_check") and allowed(user, "imap_login")
    assert not allowed(user, "pop3_login")
    assert not allowed(user, "web_login")
    assert not allowed(user, "manage_own_accounts")


def test_it_allows_nothing_without_a_group_or_a_policy(django_user_model):
    user = django_user_model.objects.create_user("loner")
    user.groups.add(Group.objects.create(name="no policy"))
    assert not any(allowed(user, what) for what in PERMISSIONS)


def test_it_allows_everything_to_an_active_superuser(django_user_model):
    root = django_user_model.objects.create_superuser("root")
    assert all(allowed(root, what) for what in PERMISSIONS)
    root.is_active = False
    assert not any(allowed(root, what) for what in PERMISSIONS)


def test_it_allows_nothing_to_anonymous_or_inactive_users(django_user_model):
    user = django_user_model.objects.create_user("gone", is_active=False)
    grant(user, "all", allow_manual_check=True)
    assert not allowed(AnonymousUser(), "manual_check")
    assert not allowed(None, "manual_check")
    assert not allowed(user, "manual_check")


def test_it_refuses_an_unknown_permission_name(django_user_model):
    with pytest.raises(KeyError):
        allowed(django_user_model.objects.create_superuser("root"), "check_now")


def test_it_finds_mailboxes_by_address_or_alias():
    box = make_mailbox("Main@Local.test", aliases=["Other@Local.test", "söme@local.test"])
    assert Mailbox.for_address("main@local.test") == box
    assert Mailbox.for_address(" OTHER@local.TEST ") == box
    assert Mailbox.for_address("SÖME@local.test") == box
    assert Mailbox.for_address("other@local.tes") is None
    assert Mailbox.for_address("") is None


def test_it_edits_the_policy_on_the_group_admin_page(admin_client):
    url = reverse("admin:auth_group_add")
    assert "Check on IMAP login" in admin_client.get(url).content.decode()

    response = admin_client.post(url, {
        "name": "webmail users",
        "policy-TOTAL_FORMS": "1", "policy-INITIAL_FORMS": "0",
        "policy-MIN_NUM_FORMS": "0", "policy-MAX_NUM_FORMS": "1",
        "policy-0-allow_manual_check": "on",
        "policy-0-allow_imap_login_trigger": "on",
        "policy-0-min_poll_minutes": "5",
    })

    assert response.status_code == 302, response.content.decode()[-2000:]
    policy = Group.objects.get(name="webmail users").policy
    assert policy.allow_manual_check and policy.allow_imap_login_trigger
    assert not (policy.allow_pop3_login_trigger or policy.allow_web_login_trigger
                or policy.may_manage_own_accounts)

    listing = admin_client.get(reverse("admin:auth_group_changelist")).content.decode()
    assert "webmail users" in listing and "IMAP" in listing
