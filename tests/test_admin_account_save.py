"""Saving an account in the admin: the connection is tested first (a failing test keeps the
form open, with "Save anyway"), a changed account leaves its back-off, and fields that do
not apply are ignored."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from retrieval.models import RemoteAccount
from tests.admin_helpers import make_remote
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def form_data(owner, **overrides) -> dict:
    data = {
        "owner": owner.pk, "name": "", "enabled": "on", "protocol": "pop3", "security": "tls",
        "host": "localhost", "port": "", "verify_tls": "on", "username": "alice",
        "password": "", "folders": "", "mode": "single", "target_folder": "",
        "keep_policy": "keep", "keep_days": "7", "max_message_mb": "0", "poll_minutes": "",
        "push": "on",
        "save_anyway": "1",
    }
    data.update(overrides)
    return data


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_failing_test_keeps_the_form_open_with_save_anyway(admin_client, dovecot,
                                                            mail_user, settings):
    settings.POPADMIN_CA_FILE = dovecot.ca_file
    username, _ = mail_user
    owner = make_mailbox()
    data = form_data(owner, username=username, port=str(dovecot.pop3s_port),
                     password="not it", save_anyway="")

    response = admin_client.post(reverse("admin:retrieval_remoteaccount_add"), data)

    assert response.status_code == 200
    assert not RemoteAccount.objects.filter(owner=owner).exists()
    body = response.content.decode()
    assert "Not saved: Test connection failed. The server refused the username or password." \
        in body
    assert 'name="save_anyway"' in body and 'id="popadmin-save-anyway"' in body
    assert 'id="popadmin-save-anyway" hidden' not in body
    assert "not it" not in body

    response = admin_client.post(reverse("admin:retrieval_remoteaccount_add"),
                                 {**data, "save_anyway": "1"})

    assert response.status_code == 302
    account = RemoteAccount.objects.get(owner=owner)
    assert account.get_password() == "not it"
    assert any(s.startswith("Saved without a passing Test connection") for s in texts(response))


def test_it_reports_a_working_connection_on_save(admin_client, dovecot, mail_user, settings):
    settings.POPADMIN_CA_FILE = dovecot.ca_file
    username, password = mail_user
    response = admin_client.post(reverse("admin:retrieval_remoteaccount_add"), form_data(
        make_mailbox(), username=username, port=str(dovecot.pop3s_port), password=password,
        save_anyway=""))

    assert texts(response)[0].startswith("Test connection OK: connected and logged in")


def test_it_clears_the_back_off_of_a_changed_account(admin_client):
    failing_since = timezone.now() - dt.timedelta(hours=3)
    account = make_remote(host="host.invalid", consecutive_failures=6,
                          failing_since=failing_since,
                          next_check=timezone.now() + dt.timedelta(hours=5))
    before = timezone.now()

    admin_client.post(reverse("admin:retrieval_remoteaccount_change", args=[account.pk]),
                      form_data(account.owner, host="host.invalid", password="new password"))

    account.refresh_from_db()
    assert (account.consecutive_failures, account.failing_since) == (0, None)
    assert before <= account.next_check <= timezone.now()


def test_it_keeps_the_back_off_when_nothing_changed(admin_client):
    later = timezone.now() + dt.timedelta(hours=5)
    account = make_remote(host="host.invalid", port=995, consecutive_failures=6,
                          next_check=later)

    admin_client.post(reverse("admin:retrieval_remoteaccount_change", args=[account.pk]),
                      form_data(account.owner, host="host.invalid", port="995"))

    account.refresh_from_db()
    assert (account.consecutive_failures, account.next_check) == (6, later)


def test_it_ignores_fields_that_do_not_apply(admin_client):
    account = make_remote(host="host.invalid", keep_days=7, verify_tls=True, folders=[])

    admin_client.post(
        reverse("admin:retrieval_remoteaccount_change", args=[account.pk]),
        form_data(account.owner, host="host.invalid", keep_policy="keep", keep_days="",
                  security="none", verify_tls="", folders="Archive", password="p"))

    account.refresh_from_db()
    assert account.security == "none"
    assert (account.keep_days, account.verify_tls, account.folders) == (7, True, [])


def test_it_asks_for_the_days_when_the_copy_is_kept_for_n_days(admin_client):
    owner = make_mailbox()
    response = admin_client.post(reverse("admin:retrieval_remoteaccount_add"), form_data(
        owner, host="host.invalid", password="p", keep_policy="keep_days", keep_days=""))

    assert response.status_code == 200
    assert "How many days should the copy stay on the server?" in response.content.decode()
    assert not RemoteAccount.objects.filter(owner=owner).exists()


def test_it_takes_imap_folders_one_per_line(admin_client):
    owner = make_mailbox()
    admin_client.post(reverse("admin:retrieval_remoteaccount_add"), form_data(
        owner, host="host.invalid", password="p", protocol="imap",
        folders="INBOX\r\nWork, Archive\r\n\r\nINBOX"))

    assert RemoteAccount.objects.get(owner=owner).folders == ["INBOX", "Work, Archive"]


def test_it_shows_no_editable_internal_fields(admin_client):
    account = make_remote()
    page = admin_client.get(reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))
    body = page.content.decode()

    for internal in ("next_check", "lease_expires", "lease_token", "pending_trigger",
                     "consecutive_failures", "last_error"):
        assert f'name="{internal}' not in body
    assert "Test connection" in body and "Check now" in body
    # No JSON text box: the folder list is one name per line.
    assert ">[]<" not in body


def test_a_changed_account_is_checked_at_once_even_just_after_a_check(admin_client):
    account = make_remote(host="host.invalid", keep_policy="keep", last_check=timezone.now())

    response = admin_client.post(
        reverse("admin:retrieval_remoteaccount_change", args=[account.pk]),
        form_data(account.owner, host="other.invalid", password="typed again"))

    assert "A check with these settings has started" in " ".join(texts(response))
    account.refresh_from_db()
    assert account.pending_trigger == "admin"
    # Check now pressed next finds it, and says the save started it.
    check = admin_client.post(reverse("admin:retrieval_remoteaccount_check", args=[account.pk]))
    assert "saving a change starts one" in texts(check)[-1]
