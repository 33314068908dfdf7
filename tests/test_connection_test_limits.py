"""Test connection is rate limited: per person (higher, but limited, for staff in the admin)
and per remote login (host + username) whoever asks, with a message saying when to try
again. The counts live in Django's cache, shared by every web process."""

import json
import os
import secrets
import subprocess
import sys
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import GroupPolicy
from retrieval.models import GlobalSettings, RemoteAccount
from retrieval.probe_limits import refusal
from tests.admin_helpers import make_remote, staff
from tests.factories import make_mailbox
from tests.fakeserver import FakeServer, Pop3Mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(settings):
    """A third party's POP3 server: it counts the logins it is sent."""
    mailbox = Pop3Mailbox([], users={"victim": "the real one"})
    with FakeServer(mailbox) as fake:
        settings.POPADMIN_ALLOWED_PORTS = [110, 995, fake.port]
        gs = GlobalSettings.load()
        gs.allowed_internal_networks = ["127.0.0.0/8"]
        gs.save()
        fake.mailbox = mailbox
        yield fake


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.POPADMIN_PROBE_LIMIT_USER = (3, 60)
    settings.POPADMIN_PROBE_LIMIT_STAFF = (4, 60)
    settings.POPADMIN_PROBE_LIMIT_LOGIN = (5, 600)


def user_with(django_user_model, name, manage=True):
    user = django_user_model.objects.create_user(name, password="x")
    group = Group.objects.create(name=f"g-{name}")
    GroupPolicy.objects.create(group=group, may_manage_own_accounts=manage, min_poll_minutes=1)
    user.groups.add(group)
    make_mailbox(f"{name}@local.test", user=user)
    return user


def guess(client, server, password="guess", action="test"):
    data = {"name": "", "protocol": "pop3", "security": "none", "host": "127.0.0.1",
            "port": server.port, "username": "victim", "password": password, "folders": "",
            "target_folder": "", "keep_policy": "delete", "keep_days": 7, "poll_minutes": "",
            "enabled": "on", "action": action}
    return client.post(reverse("mail-account-add"), data, HTTP_ACCEPT="application/json")


def test_a_user_gets_a_few_tests_a_minute_then_a_time_to_try_again(
    client, django_user_model, server
):
    client.force_login(user_with(django_user_model, "me"))

    answers = [guess(client, server, f"guess {n}") for n in range(5)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[3].json()
    assert refused["ok"] is False
    assert refused["line"].startswith("Too many connection tests: try again in ")
    seconds = int(refused["line"].split("try again in ")[1].split()[0])
    assert 0 < seconds <= 60
    assert server.mailbox.sessions == 3  # the refused ones never reached the server


def test_save_is_limited_too_and_saves_nothing(client, django_user_model, server):
    client.force_login(user_with(django_user_model, "me"))
    for n in range(3):
        guess(client, server, f"guess {n}")

    response = guess(client, server, "the real one", action="save")

    assert response.status_code == 429
    assert not RemoteAccount.objects.exists() and server.mailbox.sessions == 3


def test_the_remote_login_is_limited_whoever_asks(client, django_user_model, server):
    for name in ("ann", "bob"):
        client.force_login(user_with(django_user_model, name))
        answers = [guess(client, server) for _ in range(3)]

    # Ann had 3, Bob 2 more: the victim's login had its 5 for ten minutes.
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert server.mailbox.sessions == 5


def test_staff_get_more_in_the_admin_but_a_limit_too(client, django_user_model, server):
    account = make_remote(host="127.0.0.1", port=server.port, security="none",
                          username="victim", network_restricted=False)
    client.force_login(staff(django_user_model, "clerk", "change_remoteaccount",
                             "view_remoteaccount"))
    url = reverse("admin:retrieval_remoteaccount_test", args=[account.pk])

    said = [str(m) for _ in range(5) for m in client.post(url, follow=True).context["messages"]]

    assert sum("Too many connection tests: try again in" in s for s in said) == 1
    assert server.mailbox.sessions == 4


def test_a_user_without_self_service_is_refused_and_spends_nothing(
    client, django_user_model, server
):
    client.force_login(user_with(django_user_model, "plain", manage=False))

    assert guess(client, server).status_code == 403
    assert server.mailbox.sessions == 0


def test_anonymous_is_sent_to_log_in(client, server):
    response = client.post(reverse("mail-account-add"), {"host": "127.0.0.1"})

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert server.mailbox.sessions == 0


SPEND = """
import django, sys, types
django.setup()
from retrieval.probe_limits import refusal
user = types.SimpleNamespace(pk=int(sys.argv[1]))
account = types.SimpleNamespace(host=sys.argv[2], username="victim")
print([refusal(user, account) for _ in range(3)])
"""


def test_processes_count_together(settings):
    # Django's own cache settings, as every web process has them (no per-test prefix).
    settings.CACHES = {alias: {k: v for k, v in conf.items() if k != "KEY_PREFIX"}
                       for alias, conf in settings.CACHES.items()}
    user = SimpleNamespace(pk=10**9 + secrets.randbelow(10**6))
    account = SimpleNamespace(host=f"{secrets.token_hex(6)}.example", username="victim")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "popadmin.settings",
           "POPADMIN_PROBE_LIMIT_USER": "3"}

    other = subprocess.run([sys.executable, "-c", SPEND, str(user.pk), account.host],
                           env=env, capture_output=True, text=True, timeout=60)

    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout.strip().replace("'", '"')) == ["", "", ""]
    assert refusal(user, account).startswith("Too many connection tests")
