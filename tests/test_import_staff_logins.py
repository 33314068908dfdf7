"""An import never sets the password of (or takes over) a staff or superuser login."""

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Mailbox

User = get_user_model()

ADMIN_PASSWORD = "Unchanged-Admin-Pw-1"
CHOSEN_PASSWORD = "Mallory-Chosen-Pw-9"



def run_import(tmp_path, doc):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc))
    out = io.StringIO()
    call_command("import_accounts", str(path), stdout=out)
    return out.getvalue()


def import_error(tmp_path, doc):
    with pytest.raises(CommandError) as excinfo:
        run_import(tmp_path, doc)
    return str(excinfo.value)


def admin_login(kind):
    if kind == "superuser":
        return User.objects.create_superuser("root", "", ADMIN_PASSWORD)
    return User.objects.create_user("root", password=ADMIN_PASSWORD, is_staff=True)


@pytest.fixture(params=["superuser", "staff"])
def admin_mailbox(request, db):
    """A mailbox whose login is an admin's."""
    return Mailbox.objects.create(address="root@example.com", user=admin_login(request.param))


def test_it_refuses_to_repassword_the_staff_login_of_a_mailbox(tmp_path, admin_mailbox):
    doc = {"mailboxes": [{"address": "root@example.com", "password": CHOSEN_PASSWORD}]}

    message = import_error(tmp_path, doc)

    assert "mailboxes[0].password: the login of this mailbox is a staff login; refused" in message
    assert CHOSEN_PASSWORD not in message
    admin_mailbox.user.refresh_from_db()
    assert admin_mailbox.user.check_password(ADMIN_PASSWORD)


def test_it_refuses_it_with_the_username_spelled_out(tmp_path, admin_mailbox):
    doc = {"mailboxes": [{"address": "root@example.com", "username": "root",
                          "password": CHOSEN_PASSWORD}]}

    message = import_error(tmp_path, doc)

    assert "mailboxes[0].password: the login of this mailbox is a staff login; refused" in message
    admin_mailbox.user.refresh_from_db()
    assert admin_mailbox.user.check_password(ADMIN_PASSWORD)


def test_it_still_updates_the_mailbox_of_a_staff_login_without_a_password(
    tmp_path, admin_mailbox
):
    # What export_accounts writes for such a mailbox must import again.
    doc = {"mailboxes": [{"address": "root@example.com", "username": "root", "quota_mb": 10}]}

    out = run_import(tmp_path, doc)

    assert "mailboxes: 0 created, 1 updated" in out
    admin_mailbox.refresh_from_db()
    assert admin_mailbox.quota_mb == 10
    assert admin_mailbox.user.check_password(ADMIN_PASSWORD)


@pytest.mark.parametrize("kind", ["superuser", "staff"])
def test_it_refuses_to_take_over_a_staff_login(tmp_path, db, kind):
    admin = admin_login(kind)
    doc = {"mailboxes": [{"address": "mallory@example.com", "username": "root"}]}

    message = import_error(tmp_path, doc)

    assert "mailboxes[0].username: root is a staff login; refused" in message
    assert not Mailbox.objects.filter(address="mallory@example.com").exists()
    admin.refresh_from_db()
    assert admin.check_password(ADMIN_PASSWORD)


def test_it_sets_the_password_of_an_ordinary_linked_login(tmp_path, db):
    user = User.objects.create_user("carol", password=ADMIN_PASSWORD)
    Mailbox.objects.create(address="carol@example.com", user=user)
    doc = {"mailboxes": [{"address": "carol@example.com", "password": CHOSEN_PASSWORD}]}

    run_import(tmp_path, doc)

    user.refresh_from_db()
    assert user.check_password(CHOSEN_PASSWORD)


@pytest.mark.parametrize("with_password", [True, False])
def test_it_refuses_to_relink_the_mailbox_of_a_staff_login(tmp_path, admin_mailbox, with_password):
    entry = {"address": "root@example.com", "username": "newname"}
    if with_password:
        entry["password"] = CHOSEN_PASSWORD
    doc = {"mailboxes": [entry]}

    message = import_error(tmp_path, doc)

    assert (
        "mailboxes[0].username: the login of this mailbox, root, is a staff login; "
        "re-linking refused" in message
    )
    assert CHOSEN_PASSWORD not in message
    admin_mailbox.refresh_from_db()
    assert admin_mailbox.user.username == "root"
    assert not User.objects.filter(username="newname").exists()


def test_it_refuses_to_relink_a_staff_mailbox_to_another_existing_login(
    tmp_path, admin_mailbox
):
    User.objects.create_user("carol", password=ADMIN_PASSWORD)
    doc = {"mailboxes": [{"address": "root@example.com", "username": "carol"}]}

    message = import_error(tmp_path, doc)

    assert "re-linking refused" in message
    admin_mailbox.refresh_from_db()
    assert admin_mailbox.user.username == "root"


def test_it_still_relinks_the_mailbox_of_an_ordinary_login(tmp_path, db):
    old = User.objects.create_user("carol", password=ADMIN_PASSWORD)
    Mailbox.objects.create(address="carol@example.com", user=old)
    doc = {"mailboxes": [{"address": "carol@example.com", "username": "caroline"}]}

    run_import(tmp_path, doc)

    assert Mailbox.objects.get(address="carol@example.com").user.username == "caroline"
