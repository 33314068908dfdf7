"""The admin's Test connection tests the form as typed (JSON, nothing saved), keeps the
stored password for its own server only, and only staff who may add or change accounts
reach it; the address lookup likewise."""

import pytest
from django.urls import reverse

from retrieval import credential_reuse
from retrieval.admin import account_test
from retrieval.models import RemoteAccount
from tests.admin_helpers import make_remote, staff
from tests.factories import make_account, make_mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def typed(account, **overrides) -> dict:
    data = {"owner": account.owner_id, "name": "", "enabled": "on", "protocol": account.protocol,
            "security": account.security, "host": account.host,
            "port": str(account.port or ""), "verify_tls": "on" if account.verify_tls else "",
            "username": account.username, "auth_method": "password", "password": "",
            "folders": "", "mode": "single", "target_folder": "", "keep_policy": "keep",
            "keep_days": "7", "max_message_mb": "0", "poll_minutes": ""}
    data.update(overrides)
    return data


def test_url(account=None):
    if account is None:
        return reverse("admin:retrieval_remoteaccount_test_new")
    return reverse("admin:retrieval_remoteaccount_test", args=[account.pk])


JSON = {"HTTP_ACCEPT": "application/json"}


def test_it_tests_the_typed_password_not_the_stored_one(admin_client, dovecot, mail_user,
                                                        settings):
    settings.POPADMIN_CA_FILE = dovecot.ca_file
    username, password = mail_user
    account = make_account(dovecot, username, "stored and wrong")

    answer = admin_client.post(test_url(account), typed(account, password=password), **JSON)

    assert answer.status_code == 200
    assert answer.json()["ok"] is True
    assert answer.json()["line"].startswith("connected and logged in")
    account.refresh_from_db()
    assert account.get_password() == "stored and wrong"  # nothing saved


def test_it_tests_a_new_account_before_it_exists(admin_client, dovecot, mail_user, settings):
    settings.POPADMIN_CA_FILE = dovecot.ca_file
    username, _ = mail_user
    draft = make_account(dovecot, username, "x")
    data = typed(draft, password="not it")
    draft.delete()

    answer = admin_client.post(test_url(), data, **JSON).json()

    assert answer["ok"] is False
    assert answer["summary"] == "The server refused the username or password."
    assert answer["who"] == "Next step"
    assert not RemoteAccount.objects.exists()


def test_the_stored_password_is_not_sent_to_another_server(admin_client, monkeypatch):
    account = make_remote(host="pop.example.test", port=995)
    probed = []
    monkeypatch.setattr(account_test, "probe_words", lambda user, a: probed.append(a))

    answer = admin_client.post(test_url(account), typed(account, host="elsewhere.test"), **JSON)

    assert answer.status_code == 400
    assert answer.json()["errors"]["password"] == [credential_reuse.TYPE_IT_AGAIN]
    assert probed == []


def test_it_asks_for_a_password_for_a_new_account(admin_client):
    owner = make_mailbox()
    answer = admin_client.post(test_url(), {**typed(make_remote(owner=owner)), "host": "x.test"},
                               **JSON)
    assert answer.status_code == 400
    assert "password" in answer.json()["errors"]


@pytest.mark.parametrize("who, code", [("viewer", 403), ("plain", 302), (None, 302)])
def test_others_may_not_test(client, django_user_model, who, code, monkeypatch):
    probed = []
    monkeypatch.setattr(account_test, "probe_words", lambda user, a: probed.append(a))
    account = make_remote()
    if who == "viewer":
        client.force_login(staff(django_user_model, "viewer", "view_remoteaccount"))
    elif who == "plain":
        client.force_login(django_user_model.objects.create_user("plain", password="x"))
    for url in (test_url(account), test_url()):
        response = client.post(url, typed(account, password="p"), **JSON)
        assert response.status_code == code
        if code == 302:
            assert response.url.startswith(reverse("admin:login"))
    lookup = client.get(reverse("admin:retrieval_remoteaccount_lookup"),
                        {"address": "a@gmail.com"})
    assert lookup.status_code == code
    assert probed == []


def test_staff_who_may_add_can_test_a_new_account(client, django_user_model, monkeypatch):
    monkeypatch.setattr(account_test, "probe_words", lambda user, a: {
        "ok": True, "limited": False, "line": f"tested {a.host}", "summary": "",
        "next_step": "", "who": "", "text": ""})
    client.force_login(staff(django_user_model, "adder", "add_remoteaccount"))
    account = make_remote()
    data = typed(account, host="typed.example.test", username="new", password="p")
    account.delete()

    answer = client.post(test_url(), data, **JSON).json()

    assert answer == {"ok": True, "limited": False, "line": "tested typed.example.test",
                      "summary": "", "next_step": "", "who": "", "text": ""}


def test_the_lookup_suggests_a_known_provider(admin_client, settings):
    settings.POPADMIN_DNS_SERVERS = ["127.0.0.1:9"]  # nothing answers: the provider table
    found = admin_client.get(reverse("admin:retrieval_remoteaccount_lookup"),
                             {"address": "someone@gmail.com"}).json()["suggestions"]
    assert found[0]["host"] == "imap.gmail.com" and found[0]["oauth"] == "google"
