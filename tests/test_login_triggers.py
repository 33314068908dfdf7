"""Login triggers: web logins, and POP3/IMAP logins the local mail server
reports through `manage.py login_trigger` or POST /api/login-trigger."""

import io
import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import GroupPolicy
from retrieval import dispatcher
from retrieval.models import RemoteAccount
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

TOKEN = "trigger-token-0123456789"
URL = "/api/login-trigger"


def log_in(client, username):
    # The login throttle (django-axes) needs the request the attempt came with.
    return client.login(request=RequestFactory().post("/accounts/login/"),
                        username=username, password="login password")



@pytest.fixture
def requested(monkeypatch):
    calls = []

    def record(account_ids, trigger):
        calls.append((list(account_ids), trigger))
        return list(account_ids)

    monkeypatch.setattr(dispatcher, "request_check", record, raising=False)
    return calls


@pytest.fixture
def token(settings):
    settings.POPADMIN_TRIGGER_TOKEN = TOKEN
    return TOKEN


def make_user(django_user_model, name, **policy):
    user = django_user_model.objects.create_user(name, password="login password")
    group = Group.objects.create(name=f"group-of-{name}")
    GroupPolicy.objects.create(group=group, **policy)
    user.groups.add(group)
    make_mailbox(f"{name}@local.test", user=user, aliases=[f"{name}.alias@other.test"])
    return user


def make_remote(user, username="alice", **fields) -> RemoteAccount:
    account = RemoteAccount(owner=user.mailbox, host="pop.example.test", username=username,
                            **fields)
    account.set_password("remote password")
    account.save()
    return account


@pytest.fixture
def everything(django_user_model):
    """A user whose group allows every login trigger, with one enabled and one disabled account."""
    user = make_user(django_user_model, "alice", allow_web_login_trigger=True,
                     allow_pop3_login_trigger=True, allow_imap_login_trigger=True)
    make_remote(user)
    make_remote(user, username="off", enabled=False)
    return user


def enabled_ids(user):
    return [a.pk for a in user.mailbox.remote_accounts.filter(enabled=True)]


# --- web login ---

def test_it_checks_on_web_login_when_the_group_allows(client, everything, requested):
    assert log_in(client, "alice")
    assert requested == [(enabled_ids(everything), "login")]


def test_it_checks_on_the_login_page(client, everything, requested):
    response = client.post(reverse("login"), {"username": "alice", "password": "login password"})
    assert response.status_code == 302 and response["Location"] == "/mail/"
    assert requested == [(enabled_ids(everything), "login")]


def test_it_does_not_check_on_web_login_when_not_allowed(client, django_user_model, requested):
    user = make_user(django_user_model, "bob", allow_manual_check=True,
                     allow_pop3_login_trigger=True, allow_imap_login_trigger=True)
    make_remote(user)
    assert log_in(client, "bob")
    assert requested == []


def test_it_does_not_check_for_a_user_without_groups(client, django_user_model, requested):
    user = django_user_model.objects.create_user("carol", password="login password")
    mailbox = make_mailbox("carol@local.test", user=user)
    RemoteAccount.objects.create(owner=mailbox, host="h.test", username="c")
    assert log_in(client, "carol")
    assert requested == []


def test_it_takes_any_group_that_allows(client, django_user_model, requested):
    user = make_user(django_user_model, "dave")
    make_remote(user)
    yes = Group.objects.create(name="web-login")
    GroupPolicy.objects.create(group=yes, allow_web_login_trigger=True)
    user.groups.add(yes)
    assert log_in(client, "dave")
    assert len(requested) == 1


def test_it_lets_the_login_succeed_when_the_queue_is_down(client, everything, monkeypatch):
    def broken(ids, trigger):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(dispatcher, "request_check", broken, raising=False)
    response = client.post(reverse("login"), {"username": "alice", "password": "login password"})
    assert response.status_code == 302


# --- the login_trigger command ---

def trigger(*args):
    out = io.StringIO()
    call_command("login_trigger", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("service", ["pop3", "imap"])
def test_it_checks_on_a_mail_login_by_address(everything, requested, service):
    assert trigger("alice@local.test", "--service", service) == ""
    assert requested == [(enabled_ids(everything), "login")]


def test_it_checks_on_a_mail_login_by_alias_in_any_case(everything, requested):
    trigger("  Alice.ALIAS@Other.test ", "--service", "imap")
    assert requested == [(enabled_ids(everything), "login")]


def test_it_does_not_match_part_of_an_alias(everything, requested):
    trigger("alias@other.test", "--service", "imap")
    trigger("alice.alias@other.tes", "--service", "imap")
    assert requested == []


@pytest.mark.parametrize("allowed,refused", [("pop3", "imap"), ("imap", "pop3")])
def test_it_respects_the_policy_per_service(django_user_model, requested, allowed, refused):
    user = make_user(django_user_model, "erin", **{f"allow_{allowed}_login_trigger": True})
    account = make_remote(user)
    trigger("erin@local.test", "--service", refused)
    assert requested == []
    trigger("erin@local.test", "--service", allowed)
    assert requested == [([account.pk], "login")]


def test_it_is_silent_about_unknown_addresses(everything, requested):
    assert trigger("nobody@local.test", "--service", "pop3") == ""
    assert requested == []


def test_it_ignores_a_mailbox_without_a_login(requested):
    mailbox = make_mailbox("orphan@local.test")
    RemoteAccount.objects.create(owner=mailbox, host="h.test", username="o")
    trigger("orphan@local.test", "--service", "pop3")
    assert requested == []


def test_it_counts_when_asked_to_be_verbose(everything, requested):
    assert trigger("alice@local.test", "--service", "pop3", "-v", "2") == "1 account(s) queued\n"


def test_it_refuses_an_unknown_service(everything, requested):
    with pytest.raises(CommandError):
        trigger("alice@local.test", "--service", "smtp")
    assert requested == []


# --- POST /api/login-trigger ---

def post(client, data, token=TOKEN, as_json=False):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if as_json:
        return client.post(URL, json.dumps(data), content_type="application/json",
                           headers=headers)
    return client.post(URL, data, headers=headers)


def test_it_is_off_without_a_configured_token(client, settings, everything, requested):
    settings.POPADMIN_TRIGGER_TOKEN = ""
    assert post(client, {"address": "alice@local.test", "service": "imap"}).status_code == 404
    assert post(client, {"address": "alice@local.test", "service": "imap"},
                token="").status_code == 404
    assert requested == []


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer ", f"Basic {TOKEN}",
                                    f"Bearer {TOKEN}x", TOKEN])
def test_it_refuses_a_bad_token(client, token, everything, requested, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.post(URL, {"address": "alice@local.test", "service": "imap"},
                           headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert requested == []


def test_it_only_takes_post(client, token, requested):
    assert client.get(URL, headers={"Authorization": f"Bearer {token}"}).status_code == 405
    assert client.get(URL).status_code == 405


def test_it_needs_no_csrf_token(token, everything, requested):
    from django.test import Client

    response = post(Client(enforce_csrf_checks=True),
                    {"address": "alice@local.test", "service": "pop3"})
    assert response.status_code == 202


def test_it_accepts_a_form_body(client, token, everything, requested):
    response = post(client, {"address": "alice@local.test", "service": "pop3"})
    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}
    assert requested == [(enabled_ids(everything), "login")]


def test_it_accepts_a_json_body_and_an_alias(client, token, everything, requested):
    response = post(client, {"address": "ALICE.alias@other.test", "service": "imap"},
                    as_json=True)
    assert response.status_code == 202
    assert requested == [(enabled_ids(everything), "login")]


def test_it_answers_the_same_for_unknown_addresses(client, token, everything, requested):
    known = post(client, {"address": "alice@local.test", "service": "imap"})
    unknown = post(client, {"address": "nobody@local.test", "service": "imap"})
    assert (unknown.status_code, unknown.content) == (known.status_code, known.content)
    assert len(requested) == 1


def test_it_answers_the_same_when_the_group_forbids(client, token, django_user_model,
                                                    requested):
    user = make_user(django_user_model, "frank")
    make_remote(user)
    response = post(client, {"address": "frank@local.test", "service": "imap"})
    assert response.status_code == 202 and response.json() == {"status": "accepted"}
    assert requested == []


@pytest.mark.parametrize("data,as_json", [
    ({"service": "imap"}, False),
    ({"address": "alice@local.test"}, False),
    ({"address": "alice@local.test", "service": "smtp"}, False),
    ({"address": "x" * 400 + "@local.test", "service": "imap"}, False),
    ({"address": ["alice@local.test"], "service": "imap"}, True),
    (["alice@local.test", "imap"], True),
])
def test_it_refuses_bad_fields(client, token, everything, requested, data, as_json):
    assert post(client, data, as_json=as_json).status_code == 400
    assert requested == []


def test_it_refuses_broken_json(client, token, requested):
    response = client.post(URL, "{not json", content_type="application/json",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
