"""The user's mail page: own remote accounts with status, Check now by group
policy, live progress JSON; owner, other user and outsider every time."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.models import GroupPolicy
from retrieval import dispatcher
from retrieval.models import RemoteAccount, Run
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

REMOTE_PASSWORD = "remote-pässword-never-shown"



@pytest.fixture
def requested(monkeypatch):
    """Records request_check calls; answers as if every id were enqueued."""
    calls = []

    def record(account_ids, trigger):
        calls.append((list(account_ids), trigger))
        return list(account_ids)

    monkeypatch.setattr(dispatcher, "request_check", record, raising=False)
    return calls


def make_user(django_user_model, name, manual_check=True):
    user = django_user_model.objects.create_user(name, password="login password")
    group, _ = Group.objects.get_or_create(name=f"checkers-{manual_check}")
    GroupPolicy.objects.get_or_create(group=group, defaults={"allow_manual_check": manual_check})
    user.groups.add(group)
    make_mailbox(f"{name}@local.test", user=user)
    return user


def make_remote(user, username="alice", **fields) -> RemoteAccount:
    fields.setdefault("host", "pop.example.test")
    account = RemoteAccount(owner=user.mailbox, username=username, **fields)
    account.set_password(REMOTE_PASSWORD)
    account.save()
    return account


@pytest.fixture
def owner(django_user_model):
    return make_user(django_user_model, "owner")


@pytest.fixture
def other(django_user_model):
    return make_user(django_user_model, "other")


@pytest.fixture
def account(owner):
    return make_remote(owner)


def page(client, user):
    client.force_login(user)
    return client.get(reverse("mail-accounts"))


def assert_no_secret(response, account):
    body = response.content.decode()
    assert REMOTE_PASSWORD not in body
    assert account.password_encrypted not in body
    assert "password_encrypted" not in body


def test_it_shows_the_owner_their_accounts_with_status(client, owner):
    now = timezone.now()
    account = make_remote(
        owner,
        last_check=now - dt.timedelta(minutes=5),
        last_status=Run.Status.ERROR,
        last_error="login refused by the server: authentication failed",
        consecutive_failures=3,
        failing_since=now - dt.timedelta(hours=2),
        next_check=now + dt.timedelta(minutes=40),
    )

    response = page(client, owner)

    assert response.status_code == 200
    text = response.content.decode()
    assert str(account) in text
    assert "5\xa0minutes ago" in text
    assert "failed" in text
    assert "login refused by the server: authentication failed" in text
    assert "failing since" in text and "3 attempts" in text
    assert "(in 39\xa0minutes)" in text or "(in 40\xa0minutes)" in text
    assert_no_secret(response, account)


def test_it_says_never_checked_and_disabled_in_words(client, owner):
    make_remote(owner, username="new")
    make_remote(owner, username="off", enabled=False)

    text = page(client, owner).content.decode()

    assert "never checked" in text
    assert "none: the account is disabled" in text
    assert "failing since" not in text


def test_it_warns_about_unverified_tls_and_plain_text(client, owner):
    make_remote(owner, username="unverified", verify_tls=False)
    make_remote(owner, username="plain", security="none")
    make_remote(owner, username="fine")

    text = page(client, owner).content.decode()

    assert text.count("TLS certificate not verified: anyone on the network path") == 1
    assert text.count("No encryption: the password and the mail cross the network") == 1


def test_it_shows_no_accounts_of_other_users(client, owner, other, account):
    theirs = make_remote(other, username="theirs-only")

    text = page(client, owner).content.decode()
    assert str(account) in text and "theirs-only" not in text

    text = page(client, other).content.decode()
    assert "theirs-only" in text and str(account) not in text
    assert theirs.pk != account.pk


def test_it_tells_a_user_without_mailbox(client, django_user_model):
    user = django_user_model.objects.create_user("nomail", password="x")
    assert "No mailbox is linked" in page(client, user).content.decode()


@pytest.mark.parametrize("name,method", [("mail-accounts", "get"), ("mail-check-all", "post")])
def test_it_redirects_outsiders_to_login(client, name, method):
    response = getattr(client, method)(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("name,method", [("mail-progress", "get"),
                                         ("mail-check-account", "post")])
def test_it_redirects_outsiders_from_account_urls(client, account, requested, name, method):
    response = getattr(client, method)(reverse(name, args=[account.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert requested == []


@pytest.mark.parametrize("name,method", [("mail-progress", "get"),
                                         ("mail-check-account", "post")])
def test_it_404s_on_another_users_account(client, other, account, requested, name, method):
    client.force_login(other)
    response = getattr(client, method)(reverse(name, args=[account.pk]))
    assert response.status_code == 404
    assert requested == []


def test_it_shows_check_now_only_when_the_group_allows(client, django_user_model, owner):
    make_remote(owner)
    stranger = make_user(django_user_model, "nocheck", manual_check=False)
    make_remote(stranger)

    assert ">Check now</button>" in page(client, owner).content.decode()
    text = page(client, stranger).content.decode()
    assert "button" in text and "Check now</button>" not in text
    assert "Check all now</button>" not in text


def test_it_refuses_check_now_when_the_group_forbids(client, django_user_model, requested):
    stranger = make_user(django_user_model, "nocheck", manual_check=False)
    theirs = make_remote(stranger)
    client.force_login(stranger)

    assert client.post(reverse("mail-check-account", args=[theirs.pk])).status_code == 403
    assert client.post(reverse("mail-check-all")).status_code == 403
    assert requested == []


def test_it_lets_a_superuser_check_without_a_group(client, django_user_model, requested):
    root = django_user_model.objects.create_superuser("root", password="x")
    make_mailbox("root@local.test", user=root)
    mine = make_remote(root)
    client.force_login(root)

    response = client.post(reverse("mail-check-account", args=[mine.pk]))

    assert response.status_code == 302
    # A superuser has every trigger, so logging in already asked once.
    assert requested == [([mine.pk], "login"), ([mine.pk], "manual")]


def test_it_checks_one_account_now(client, owner, account, requested):
    make_remote(owner, username="second")
    client.force_login(owner)

    response = client.post(reverse("mail-check-account", args=[account.pk]),
                           HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response.json() == {"queued": [account.pk]}
    assert requested == [([account.pk], "manual")]


def test_it_checks_all_enabled_own_accounts(client, owner, other, account, requested):
    second = make_remote(owner, username="second")
    make_remote(owner, username="off", enabled=False)
    make_remote(other, username="theirs")
    client.force_login(owner)

    response = client.post(reverse("mail-check-all"), HTTP_ACCEPT="application/json")

    assert response.json() == {"queued": [account.pk, second.pk]}
    assert requested == [([account.pk, second.pk], "manual")]


def test_it_refuses_to_check_a_disabled_account(client, owner, requested):
    off = make_remote(owner, enabled=False)
    client.force_login(owner)

    response = client.post(reverse("mail-check-account", args=[off.pk]),
                           HTTP_ACCEPT="application/json")

    assert response.json() == {"queued": []}
    assert requested == []


def test_it_comes_back_to_the_page_without_script(client, owner, account, requested):
    client.force_login(owner)

    response = client.post(reverse("mail-check-account", args=[account.pk]), follow=True)

    assert response.redirect_chain == [(reverse("mail-accounts"), 302)]
    assert "Check started for 1 account(s)." in response.content.decode()


def test_it_says_when_a_check_was_coalesced(client, owner, account, monkeypatch):
    monkeypatch.setattr(dispatcher, "request_check", lambda ids, trigger: [], raising=False)
    client.force_login(owner)

    response = client.post(reverse("mail-check-account", args=[account.pk]), follow=True)

    assert "being checked or was checked a moment ago" in response.content.decode()


def test_it_refuses_get_on_check(client, owner, account, requested):
    client.force_login(owner)
    assert client.get(reverse("mail-check-account", args=[account.pk])).status_code == 405
    assert client.get(reverse("mail-check-all")).status_code == 405
    assert requested == []


def test_it_requires_csrf_on_check(owner, account, requested):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(reverse("mail-check-account", args=[account.pk])).status_code == 403
    assert requested == []


def test_it_reports_progress_of_a_running_run(client, owner, account):
    run = Run.objects.create(account=account, trigger="manual", total=10, fetched=3,
                             delivered=2, seen=12)
    client.force_login(owner)

    response = client.get(reverse("mail-progress", args=[account.pk]))

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    data = response.json()
    card = data.pop("card")
    assert data == {
        "status": "running", "done": 3, "total": 10, "delivered": 2, "error": "",
        "run_id": run.pk, "started": run.started.isoformat(), "finished": None,
    }
    assert (card["phase"], card["line"], card["active"]) == (
        "running", "fetching: 3 of 10 messages", True)
    assert_no_secret(response, account)


def test_it_reports_the_latest_finished_run(client, owner, account):
    old = timezone.now() - dt.timedelta(hours=1)
    Run.objects.create(account=account, trigger="schedule", started=old, status="error",
                       finished=old, error="old")
    finished = timezone.now()
    run = Run.objects.create(account=account, trigger="manual", status="ok", total=10,
                             fetched=10, delivered=10, finished=finished)
    client.force_login(owner)

    data = client.get(reverse("mail-progress", args=[account.pk])).json()

    assert (data["status"], data["done"], data["total"], data["delivered"]) == ("ok", 10, 10, 10)
    assert (data["run_id"], data["finished"]) == (run.pk, finished.isoformat())


def test_it_reports_an_account_never_checked(client, owner, account):
    client.force_login(owner)
    data = client.get(reverse("mail-progress", args=[account.pk])).json()
    assert data["status"] is None and data["run_id"] is None


def test_it_marks_a_running_account_for_the_page_script(client, owner, account):
    run = Run.objects.create(account=account, trigger="manual")
    text = page(client, owner).content.decode()
    assert f'data-run-id="{run.pk}"' in text and 'data-phase="running"' in text


def test_it_never_shows_the_password(client, owner, account, requested):
    responses = [
        page(client, owner),
        client.get(reverse("mail-progress", args=[account.pk])),
        client.post(reverse("mail-check-account", args=[account.pk]),
                    HTTP_ACCEPT="application/json"),
        client.post(reverse("mail-check-all"), follow=True),
    ]
    for response in responses:
        assert response.status_code == 200
        assert_no_secret(response, account)


def test_it_queues_through_the_real_dispatcher_once(
    client, owner, account, django_capture_on_commit_callbacks
):
    # No recorder here: the dispatcher's own request_check decides, and a
    # second press while the first is still queued is coalesced.
    client.force_login(owner)
    url = reverse("mail-check-account", args=[account.pk])

    with django_capture_on_commit_callbacks() as callbacks:
        first = client.post(url, HTTP_ACCEPT="application/json")
        second = client.post(url, HTTP_ACCEPT="application/json")

    assert first.json() == {"queued": [account.pk]}
    assert second.json() == {"queued": []}
    assert len(callbacks) == 1
