"""Import files nested or chained beyond reason end in one error line, never a traceback."""

import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.models import Mailbox
from retrieval.models import GlobalSettings, RemoteAccount

pytestmark = pytest.mark.django_db

GETMAIL_RC = """[retriever]
type = SimpleIMAPSSLRetriever
server = imap.remote.test
username = jeff
password = secret-pw
mailboxes = {mailboxes}
"""
# Each reached the literal parser's recursion or a type error before.
HOSTILE_TUPLES = ["1" + "+1" * 10_000, "-" * 10_000 + "1", '{{"a"}}']


def import_accounts(tmp_path, text):
    path = tmp_path / "in.json"
    path.write_text(text)
    call_command("import_accounts", str(path), stdout=io.StringIO())


@pytest.mark.parametrize("depth", [100_000, 200])
def test_import_accounts_refuses_deep_json_in_one_line(tmp_path, depth):
    # 100,000 levels overflow the JSON decoder; 200 decode, but are re-encoded
    # (recursively) when a JSON column is saved.
    doc = '{"settings": {"header_fields": ' + "[" * depth + "]" * depth + "}}"

    with pytest.raises(CommandError) as caught:
        import_accounts(tmp_path, doc)

    message = str(caught.value)
    assert message.endswith("not valid JSON: nested more than 32 levels deep")
    assert "\n" not in message
    assert not GlobalSettings.objects.exists()


def test_import_accounts_still_reads_a_normally_nested_file(tmp_path):
    doc = {"mailboxes": [{"address": "a@local.test", "aliases": ["b@local.test"]}]}

    import_accounts(tmp_path, json.dumps(doc))

    assert Mailbox.objects.get().aliases == ["b@local.test"]


@pytest.mark.parametrize("mailboxes", HOSTILE_TUPLES)
def test_import_getmailrc_refuses_a_hostile_tuple_as_an_entry(tmp_path, mailboxes):
    Mailbox.objects.create(address="me@local.test")
    rc = tmp_path / "imap.rc"
    rc.write_text(GETMAIL_RC.format(mailboxes=mailboxes))
    out = io.StringIO()

    call_command("import_getmailrc", str(rc), "--owner", "me@local.test", stdout=out)

    assert "refused jeff@imap.remote.test: mailboxes" in out.getvalue()
    assert not RemoteAccount.objects.exists()


def test_import_fetchmailrc_reports_deep_brackets_as_a_syntax_error(tmp_path):
    rc = tmp_path / "fetchmailrc"
    rc.write_text("poll x " + "(" * 100_000)

    with pytest.raises(CommandError) as caught:
        call_command("import_fetchmailrc", str(rc), stdout=io.StringIO())

    assert "line 1, column 8: expected poll, skip, defaults or set" in str(caught.value)


def test_the_import_page_previews_a_hostile_tuple_as_refused(client, django_user_model):
    user = django_user_model.objects.create_user("importer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_remoteaccount"))
    client.force_login(user)
    Mailbox.objects.create(address="me@local.test")
    rc = GETMAIL_RC.format(mailboxes=HOSTILE_TUPLES[0]).encode()

    response = client.post(reverse("popadmin_import"), {
        "kind": "getmail", "gm-rcfiles": SimpleUploadedFile("imap.rc", rc),
        "gm-owner": "me@local.test",
    })

    assert response.status_code == 200
    assert "mailboxes is longer than 4096 characters" in response.content.decode()
    assert not RemoteAccount.objects.exists()
