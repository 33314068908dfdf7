"""A mailbox address or a destination folder never leads a delivery outside
MAIL_ROOT/<domain>/<localpart>/: refused when entered (admin, import), and
refused again at delivery for rows that predate the rule; the mail stays on
the server with the reason in the run."""

import json
import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.admin.sites import site
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from accounts.models import Mailbox
from retrieval import engine
from retrieval.models import RemoteAccount, Run, SeenMessage
from tests.factories import local_messages, make_account, make_mailbox

pytestmark = pytest.mark.django_db

ESCAPING = '"/../../../tmp/escaped-{tag}"@example.com'
BAD_ADDRESSES = [
    "bob/.Spam@example.com",
    '"/../../x"@example.com',
    '"bob"@example.com',
    ".bob@example.com",
    "bo..b@example.com",
    "a\\b@example.com",
    "x" * 65 + "@example.com",
]


def domain() -> str:
    return f"paths-{uuid.uuid4().hex[:8]}.test"


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_the_admin_form_refuses_an_address_that_is_not_one_plain_folder(admin_user, address):
    request = RequestFactory().post("/admin/accounts/mailbox/add/")
    request.user = admin_user
    form_class = site._registry[Mailbox].get_form(request)

    form = form_class(data={"address": address, "aliases": "[]", "quota_mb": "0"})

    assert not form.is_valid()
    assert "address" in form.errors


def test_the_admin_form_takes_an_ordinary_address(admin_user):
    request = RequestFactory().post("/admin/accounts/mailbox/add/")
    request.user = admin_user
    form_class = site._registry[Mailbox].get_form(request)

    form = form_class(data={"address": "J.Doe+tag@example.com", "aliases": "[]", "quota_mb": "0"})

    assert form.is_valid(), form.errors


def test_an_alias_must_be_a_plain_address_too():
    box = Mailbox(address="bob@example.com", aliases=["bob/.spam@example.com"])

    with pytest.raises(ValidationError) as refused:
        box.full_clean()

    assert "aliases" in refused.value.message_dict
    assert "may only contain" in " ".join(refused.value.message_dict["aliases"])


def test_the_import_refuses_such_addresses_and_aliases(tmp_path):
    doc = {"mailboxes": [
        {"address": "bob/.Spam@example.com"},
        {"address": "ann@example.com", "aliases": ['"../x"@example.com']},
    ]}
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc))

    with pytest.raises(CommandError) as refused:
        call_command("import_accounts", str(path))

    message = str(refused.value)
    assert "mailboxes[0].address: not a valid mailbox address" in message
    assert "mailboxes[1].aliases[0]: not a valid mailbox address" in message
    assert not Mailbox.objects.exists()


def test_a_legacy_row_that_would_escape_mail_root_gets_nothing_written(
    dovecot, mail_user, tmp_path
):
    tag = uuid.uuid4().hex[:8]
    # Inserted as an older version allowed: no validation on this path.
    owner = Mailbox.objects.create(address=ESCAPING.format(tag=tag))
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user, owner=owner)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.PARTIAL
    assert (run.fetched, run.delivered, run.failed, run.deleted) == (2, 0, 2, 0)
    assert "refusing to deliver to" in " ".join(run.notes)
    assert "the part before the @ may only contain" in " ".join(run.notes)
    # Where the naive path MAIL_ROOT/<domain>/<localpart> leads.
    escaped = Path(os.path.normpath(settings.MAIL_ROOT / owner.domain / owner.localpart))
    assert not escaped.is_relative_to(settings.MAIL_ROOT)
    assert not escaped.exists()
    assert len(dovecot.messages(mail_user[0])) == 2
    assert not SeenMessage.objects.filter(account=account).exists()


def test_a_legacy_row_cannot_write_into_another_mailboxs_folder(dovecot, mail_user):
    name = domain()
    bob = make_mailbox(f"bob@{name}")
    sneaky = Mailbox.objects.create(address=f"bob/.spam@{name}")
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, owner=sneaky)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.failed, run.deleted) == (0, 1, 0)
    assert local_messages(bob, "spam") == []
    assert not (settings.MAIL_ROOT / name / "bob").exists()
    assert len(dovecot.messages(mail_user[0])) == 1


def test_a_symlinked_folder_inside_the_mailbox_does_not_lead_outside(
    dovecot, mail_user, tmp_path
):
    outside = tmp_path / "outside"
    outside.mkdir()
    owner = make_mailbox(f"ann@{domain()}")
    home = settings.MAIL_ROOT / owner.domain / owner.localpart
    home.mkdir(parents=True)
    (home / ".Evil").symlink_to(outside)
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, owner=owner, target_folder="Evil")

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.failed, run.deleted) == (0, 1, 0)
    assert "leads outside the mailbox" in " ".join(run.notes)
    assert list(outside.iterdir()) == []
    assert len(dovecot.messages(mail_user[0])) == 1


def test_a_symlinked_mailbox_folder_does_not_lead_outside(dovecot, mail_user, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    owner = make_mailbox(f"ann@{domain()}")
    (settings.MAIL_ROOT / owner.domain).mkdir(parents=True)
    (settings.MAIL_ROOT / owner.domain / owner.localpart).symlink_to(outside)
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, owner=owner)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.failed, run.deleted) == (0, 1, 0)
    assert list(outside.iterdir()) == []
    assert len(dovecot.messages(mail_user[0])) == 1


@pytest.mark.parametrize("folder", [".", "..", "./..", "/", "Work/../..", "A\x01B", "a" * 300])
def test_the_destination_folder_is_one_maildir_folder_or_refused(folder):
    account = RemoteAccount(owner=make_mailbox(), host="h.test", username="u",
                            target_folder=folder)
    from delivery.maildir import folder_path

    try:
        account.clean()
    except ValidationError as refused:
        assert "target_folder" in refused.message_dict
        return
    home = settings.MAIL_ROOT / "x.test" / "u"
    path = folder_path(home, folder)
    assert path == home or (path.parent == home and path.name.startswith("."))


def test_the_import_refuses_a_destination_folder_that_is_not_a_folder(tmp_path):
    doc = {
        "mailboxes": [{"address": "ann@example.com"}],
        "accounts": [{"owner": "ann@example.com", "host": "h.test", "username": "u",
                      "password": "p", "target_folder": "../.."}],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc))

    with pytest.raises(CommandError) as refused:
        call_command("import_accounts", str(path))

    assert "accounts[0].target_folder: not a valid folder name" in str(refused.value)
