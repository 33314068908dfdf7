"""The admin's Import page: upload, preview (a dry run), confirm, result; nothing leaks."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Mailbox
from retrieval.models import PendingImport, RemoteAccount, SeenMessage

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Zq81-never-shown"
RC = f"""poll pop.remote.test proto pop3 port 995
  user jsmith with pass "{PASSWORD}" is smith@local.test here options ssl keep
poll kerb.remote.test auth kerberos user k pass p is smith@local.test here
"""
FETCHIDS = "jsmith@pop.remote.test UID-1\njsmith@pop.remote.test UID-2\n"


@pytest.fixture
def importer(client, django_user_model):
    user = django_user_model.objects.create_user("importer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_remoteaccount"))
    client.force_login(user)
    Mailbox.objects.create(address="smith@local.test")
    return user


def upload(name, text):
    return SimpleUploadedFile(name, text.encode())


def preview(client, rc=RC, state=FETCHIDS):
    data = {"kind": "fetchmail", "fm-rcfile": upload("fetchmailrc", rc),
            "fm-seen_from_server": "on"}
    if state is not None:
        data["fm-state"] = upload(".fetchids", state)
    return client.post(reverse("popadmin_import"), data)


def token_of(response):
    return re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)


def confirm(client, token):
    return client.post(reverse("popadmin_import_confirm"), {"token": token})


def test_preview_shows_what_the_dry_run_shows_and_writes_nothing(client, importer):
    response = preview(client)

    page = response.content.decode()
    assert "dry run, nothing written: accounts: 1 created, 0 updated" in page
    assert "fetchmailrc:2" in page and "jsmith@pop.remote.test" in page
    assert "2 message(s) taken before" in page
    assert "fetchmailrc:3" in page and "authentication kerberos" in page
    assert PASSWORD not in page
    assert not RemoteAccount.objects.exists()


def test_confirm_imports_and_links_the_accounts(client, importer):
    response = confirm(client, token_of(preview(client)))

    account = RemoteAccount.objects.get(username="jsmith")
    assert account.get_password() == PASSWORD and account.keep_policy == "keep"
    assert set(SeenMessage.objects.values_list("uid", flat=True)) == {"UID-1", "UID-2"}
    page = response.content.decode()
    assert "accounts: 1 created" in page and "dry run" not in page
    assert reverse("admin:retrieval_remoteaccount_change", args=[account.pk]) in page
    assert PASSWORD not in page


def test_the_upload_is_held_encrypted_on_the_server(client, importer):
    preview(client)
    held = str(dict(client.session.items()))
    assert PASSWORD not in held and "jsmith" not in held
    row = PendingImport.objects.get()
    assert PASSWORD not in row.job_encrypted and "jsmith" not in row.job_encrypted


def test_a_confirmation_works_once(client, importer):
    token = token_of(preview(client))
    confirm(client, token)
    RemoteAccount.objects.all().delete()

    response = confirm(client, token)

    assert "upload the files again" in response.content.decode()
    assert not RemoteAccount.objects.exists()


def test_a_forged_or_stale_token_imports_nothing(client, importer):
    first = token_of(preview(client))
    preview(client, rc=RC.replace("jsmith", "other"))  # a newer preview replaces it

    assert "upload the files again" in confirm(client, first).content.decode()
    assert "upload the files again" in confirm(client, "forged").content.decode()
    assert not RemoteAccount.objects.exists()


def test_a_syntax_error_is_shown_with_its_place(client, importer):
    response = preview(client, rc='poll pop.remote.test user "unterminated\n', state=None)
    page = response.content.decode()
    assert "Nothing was imported" in page and "fetchmailrc: syntax error at" in page
    assert 'name="token"' not in page


def test_updating_needs_the_change_permission(client, importer):
    confirm(client, token_of(preview(client)))
    response = preview(client, rc=RC.replace(PASSWORD, "a new password"))
    page = response.content.decode()
    assert "1 updated" in page and "permission to change remote accounts" in page
    assert 'name="token"' not in page

    importer.user_permissions.add(Permission.objects.get(codename="change_remoteaccount"))
    confirm(client, token_of(preview(client, rc=RC.replace(PASSWORD, "a new password"))))
    assert RemoteAccount.objects.get().get_password() == "a new password"


def test_getmail_files_with_their_state(client, importer):
    rc = ("[retriever]\ntype = SimplePOP3SSLRetriever\nserver = pop.remote.test\n"
          f"username = gm\npassword = {PASSWORD}\n[destination]\ntype = Maildir\n"
          "path = ~/Maildir/\n[options]\ndelete = false\n")
    state = "UIDL-9\x001700000000\n"
    data = {"kind": "getmail", "gm-owner": "smith@local.test",
            "gm-rcfiles": [upload("getmailrc", rc)],
            "gm-states": [upload("oldmail-pop.remote.test-995-gm", state)]}
    page = client.post(reverse("popadmin_import"), data).content.decode()
    assert "1 created" in page and "1 message(s) taken before" in page

    confirm(client, token_of(client.post(reverse("popadmin_import"), {
        **data, "gm-rcfiles": [upload("getmailrc", rc)],
        "gm-states": [upload("oldmail-pop.remote.test-995-gm", state)]})))
    assert SeenMessage.objects.get().uid == "UIDL-9"
    assert RemoteAccount.objects.get().username == "gm"


def test_getmail_needs_an_owner(client, importer):
    page = client.post(reverse("popadmin_import"), {
        "kind": "getmail", "gm-rcfiles": [upload("getmailrc", "[retriever]\n")]}
    ).content.decode()
    assert "This field is required" in page and 'name="token"' not in page
