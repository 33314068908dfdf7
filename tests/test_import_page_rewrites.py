"""The Import page asks before it rewrites an account its user set up or changes how one
connects: the preview marks it "Check first" with a box to tick, and a confirmation
without the box writes nothing, whatever the page sent."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import Mailbox
from retrieval.models import RemoteAccount
from tests.test_import_page import preview, token_of

pytestmark = pytest.mark.django_db

RC = """poll pop.remote.test proto imap port 143
  user alice with pass "new-pass" is alice@local.test here
"""


@pytest.fixture
def alices_account(client, django_user_model):
    staff = django_user_model.objects.create_user("importer", is_staff=True)
    for codename in ("add_remoteaccount", "change_remoteaccount"):
        staff.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(staff)
    alice = django_user_model.objects.create_user("alice")
    mailbox = Mailbox.objects.create(address="alice@local.test", user=alice)
    account = RemoteAccount(owner=mailbox, host="pop.remote.test", username="alice",
                            keep_policy="keep", created_by_user=True)
    account.set_password("old-pass")
    account.save()
    return account


def confirm(client, token, **extra):
    return client.post(reverse("popadmin_import_confirm"), {"token": token, **extra})


def test_the_preview_asks_for_a_ticked_box(client, alices_account):
    page = preview(client, RC, None).content.decode()

    assert "protocol</span>: <span class=\"popadmin-import-old\">pop3</span> → " in page
    assert "set up by the user alice on their own pages; this import rewrites it" in page
    assert 'name="confirm_rewrites" value="1" required' in page
    assert "1 rewrite(s) to confirm" in page


def test_a_confirmation_without_the_box_writes_nothing(client, alices_account):
    response = confirm(client, token_of(preview(client, RC, None)))

    page = response.content.decode()
    assert "Nothing was imported" in page and "need a confirmation" in page
    alices_account.refresh_from_db()
    assert (alices_account.protocol, alices_account.keep_policy) == ("pop3", "keep")


def test_with_the_box_ticked_the_account_is_rewritten(client, alices_account):
    response = confirm(client, token_of(preview(client, RC, None)), confirm_rewrites="1")

    assert "accounts: 0 created, 1 updated" in response.content.decode()
    alices_account.refresh_from_db()
    assert (alices_account.protocol, alices_account.port) == ("imap", 143)
    assert RemoteAccount.objects.count() == 1


def test_an_import_without_such_rewrites_has_no_box(client, alices_account):
    alices_account.created_by_user = False
    alices_account.save()
    same_way = RC.replace("proto imap port 143", "proto pop3 port 995").replace(
        "here", "here options ssl")

    page = preview(client, same_way, None).content.decode()

    assert "keep</span>: <span class=\"popadmin-import-old\">keep</span> → " in page
    assert "confirm_rewrites" not in page


def test_the_box_confirms_only_what_the_preview_showed(client, alices_account):
    token = token_of(preview(client, RC, None))
    # Between the preview and the Import, the account is changed again.
    RemoteAccount.objects.filter(pk=alices_account.pk).update(port=1995)

    response = confirm(client, token, confirm_rewrites="1")

    page = response.content.decode()
    assert "Nothing was imported" in page and "POP3 on port 1995 → IMAP on port 143" in page
    alices_account.refresh_from_db()
    assert (alices_account.protocol, alices_account.port) == ("pop3", 1995)
