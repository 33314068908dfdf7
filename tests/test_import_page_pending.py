"""The Import page holds a previewed upload on the server, not in the session: bounded, expiring."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import Mailbox
from retrieval.migration import pending
from retrieval.migration.forms import MAX_UPLOAD_BYTES
from retrieval.models import PendingImport, RemoteAccount

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Zq81-never-shown"
RC = f"""poll pop.remote.test proto pop3 port 995
  user jsmith with pass "{PASSWORD}" is smith@local.test here options ssl keep
"""


def staff(django_user_model, name):
    user = django_user_model.objects.create_user(name, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_remoteaccount"))
    return user


@pytest.fixture
def importer(client, django_user_model):
    user = staff(django_user_model, "importer")
    client.force_login(user)
    Mailbox.objects.create(address="smith@local.test")
    return user


def preview(client, rc=RC, state=None):
    data = {"kind": "fetchmail", "fm-rcfile": SimpleUploadedFile("fetchmailrc", rc.encode())}
    if state is not None:
        data["fm-state"] = SimpleUploadedFile(".fetchids", state.encode())
    return client.post(reverse("popadmin_import"), data)


def token_of(response):
    return re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)


def confirm(client, token):
    return client.post(reverse("popadmin_import_confirm"), {"token": token})


def session_bytes(client):
    return len(client.session.encode(dict(client.session.items())))


def test_a_large_preview_leaves_the_session_small(client, importer):
    # A .fetchids of nearly 2 MB: held in the session, every later page of this
    # person read and wrote it again.
    state = "jsmith@pop.remote.test UID-{}\n"
    big = "".join(state.format(i) for i in range(60_000))

    token = token_of(preview(client, state=big))

    assert session_bytes(client) < 1024
    assert dict(client.session.items())[pending.SESSION_KEY] == token
    assert PendingImport.objects.count() == 1
    confirm(client, token)
    assert RemoteAccount.objects.get().seen.count() == 60_000
    assert not PendingImport.objects.exists()


def test_a_newer_preview_replaces_the_held_row(client, importer):
    first = token_of(preview(client))
    preview(client, rc=RC.replace("jsmith", "other"))

    assert PendingImport.objects.count() == 1
    assert "upload the files again" in confirm(client, first).content.decode()
    assert not RemoteAccount.objects.exists()


def test_an_expired_preview_imports_nothing_and_is_deleted(client, importer):
    token = token_of(preview(client))
    PendingImport.objects.update(created=timezone.now() - pending.EXPIRY - dt.timedelta(1))

    assert "upload the files again" in confirm(client, token).content.decode()
    assert not RemoteAccount.objects.exists()
    assert not PendingImport.objects.exists()


def test_stale_rows_of_others_are_cleaned_by_the_next_preview(
    client, importer, django_user_model
):
    someone = staff(django_user_model, "someone")
    PendingImport.objects.create(user=someone, token_digest="0" * 64, job_encrypted="x",
                                 created=timezone.now() - pending.EXPIRY - dt.timedelta(1))
    PendingImport.objects.create(user=someone, token_digest="1" * 64, job_encrypted="x")

    preview(client)

    assert sorted(PendingImport.objects.values_list("user__username", flat=True)) == [
        "importer", "someone"]


def test_the_token_works_only_in_the_session_that_previewed(
    client, importer, django_user_model
):
    token = token_of(preview(client))
    other = staff(django_user_model, "other")
    other.user_permissions.add(Permission.objects.get(codename="change_remoteaccount"))
    client.logout()
    client.force_login(other)

    assert "upload the files again" in confirm(client, token).content.decode()
    assert not RemoteAccount.objects.exists()


def test_an_upload_over_the_total_limit_is_refused_and_not_held(client, importer):
    # Each file under the 2 MB limit, together over MAX_UPLOAD_BYTES.
    part = "x" * (2 * 1024 * 1024 - 100) + "\n"
    count = MAX_UPLOAD_BYTES // len(part) + 1
    files = [SimpleUploadedFile(f"rc{i}", part.encode()) for i in range(count)]

    response = client.post(reverse("popadmin_import"), {
        "kind": "getmail", "gm-owner": "smith@local.test", "gm-rcfiles": files})

    page = response.content.decode()
    assert "the files together are larger than 10 MB" in page
    assert 'name="token"' not in page
    assert not PendingImport.objects.exists()
    assert session_bytes(client) < 1024


def test_a_job_that_would_be_stored_too_large_is_not_held(client, importer):
    # Under the upload limit, but bytes that are not UTF-8 take six characters
    # each in the held JSON.
    garbage = b"\xff" * (MAX_UPLOAD_BYTES // 2 + 1024)
    job = {"kind": "getmail", "files": [["rc", garbage.decode("utf-8", "surrogateescape")]],
           "states": [], "owner": "smith@local.test"}
    session = client.session

    with pytest.raises(pending.TooLarge):
        pending.hold(session, importer, job)

    assert not PendingImport.objects.exists()
