"""Test connection and Check now on the account page: real Dovecot, and who may press them."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from retrieval import dispatcher
from retrieval.models import Run
from tests.admin_helpers import make_remote, staff
from tests.factories import make_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def requested(monkeypatch):
    calls = []

    def record(ids, trigger):
        calls.append((list(ids), trigger))
        return list(ids)

    monkeypatch.setattr(dispatcher, "request_check", record)
    return calls


def button_url(account, what):
    name = {"test": "retrieval_remoteaccount_test", "check": "retrieval_remoteaccount_check"}
    return reverse(f"admin:{name[what]}", args=[account.pk])


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_it_tests_the_connection_against_the_server(admin_client, dovecot, mail_user, settings):
    settings.POPADMIN_CA_FILE = dovecot.ca_file
    username, password = mail_user
    dovecot.deliver_many(username, 2)
    account = make_account(dovecot, username, password)

    response = admin_client.post(button_url(account, "test"))

    assert response.status_code == 302
    assert response.url == reverse("admin:retrieval_remoteaccount_change", args=[account.pk])
    [said] = texts(response)
    assert said.startswith("Test connection OK: connected and logged in: 2 message(s)")
    assert "Server capabilities:" in said
    # Changes nothing: the mail is still there, no run, no status.
    assert len(dovecot.messages(username)) == 2
    assert not Run.objects.filter(account=account).exists()
    account.refresh_from_db()
    assert account.last_check is None


def test_it_explains_a_refused_login(admin_client, dovecot, mail_user, settings):
    settings.POPADMIN_CA_FILE = dovecot.ca_file
    username, _ = mail_user
    account = make_account(dovecot, username, "wrong password")

    [said] = texts(admin_client.post(button_url(account, "test")))

    assert said.startswith("Test connection failed: The server refused the username or "
                           "password. Next step: Enter the password again")
    assert "wrong password" not in said


def test_it_starts_a_check_from_the_account_page(admin_client, requested):
    account = make_remote()

    response = admin_client.post(button_url(account, "check"))

    assert response.status_code == 302
    assert requested == [([account.pk], Run.Trigger.ADMIN)]
    assert texts(response)[0].startswith("Check started")


def test_it_says_why_a_check_did_not_start(admin_client):
    from retrieval.models import GlobalSettings
    gs = GlobalSettings.load()
    gs.service_running = False
    gs.save()
    account = make_remote()

    [said] = texts(admin_client.post(button_url(account, "check")))

    assert said.startswith("Not started: mail collection is stopped")


@pytest.mark.parametrize("what", ["test", "check"])
def test_it_needs_the_change_permission(client, django_user_model, requested, what):
    account = make_remote()
    client.force_login(staff(django_user_model, "viewer", "view_remoteaccount"))

    assert client.post(button_url(account, what)).status_code == 403
    assert requested == []
    page = client.get(reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))
    assert page.status_code == 200
    assert b"popadmin-check" not in page.content and b"popadmin-test" not in page.content


@pytest.mark.parametrize("what", ["test", "check"])
def test_it_lets_staff_with_the_change_permission_press_them(client, django_user_model,
                                                             requested, what):
    account = make_remote(host="host.invalid")
    client.force_login(staff(django_user_model, "editor", "view_remoteaccount",
                             "change_remoteaccount"))

    assert client.post(button_url(account, what)).status_code == 302
    page = client.get(reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))
    assert b"popadmin-check" in page.content and b"popadmin-test" in page.content


@pytest.mark.parametrize("what", ["test", "check"])
def test_it_sends_non_staff_and_anonymous_to_the_login(client, django_user_model, requested,
                                                       what):
    account = make_remote()
    for user in (None, django_user_model.objects.create_user("plain", password="x")):
        if user:
            client.force_login(user)
        response = client.post(button_url(account, what))
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))
    assert requested == []


@pytest.mark.parametrize("what", ["test", "check"])
def test_it_refuses_a_get(admin_client, requested, what):
    assert admin_client.get(button_url(make_remote(), what)).status_code == 405
    assert requested == []


def test_it_answers_404_for_an_unknown_account(admin_client, requested):
    url = reverse("admin:retrieval_remoteaccount_check", args=[999999])
    assert admin_client.post(url).status_code == 404
