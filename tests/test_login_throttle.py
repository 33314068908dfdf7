"""Brute-force protection on both login pages (django-axes): after the allowed number of
wrong passwords for one username from one address, even the right password is refused
with a clear message until the cool-off ends or an administrator unlocks."""

import datetime as dt
import time

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "the right password"
ATTACKER, USER = "203.0.113.7", "198.51.100.20"
LOGIN_PAGES = [pytest.param("/accounts/login/", id="user-login"),
               pytest.param("/admin/login/", id="admin-login")]



@pytest.fixture
def alice(django_user_model):
    # Staff, so the admin login accepts her too.
    return django_user_model.objects.create_user("alice", password=PASSWORD, is_staff=True)


def attempt(client, url, password, username="alice", address=ATTACKER):
    return client.post(url, {"username": username, "password": password, "next": "/"},
                       REMOTE_ADDR=address)


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def lock(client, url, failures=40):
    for n in range(failures):
        response = attempt(client, url, f"guess {n}")
        assert response.status_code in (200, 429)
        assert not logged_in(response)


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_the_right_password_is_refused_after_forty_wrong_ones(client, alice, url):
    lock(client, url)
    response = attempt(client, url, PASSWORD)
    assert response.status_code == 429
    assert not logged_in(response)
    assert ("Too many failed logins; try again in\n  15 minutes or ask an administrator."
            in response.text)


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_it_locks_at_the_configured_limit(client, alice, url, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for n in range(4):
        assert attempt(client, url, f"guess {n}").status_code == 200
    assert attempt(client, url, "guess 5").status_code == 429
    assert attempt(client, url, PASSWORD).status_code == 429


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_a_login_within_the_limit_succeeds_and_clears_the_count(client, alice, url):
    for n in range(4):
        attempt(client, url, f"guess {n}")
    assert logged_in(attempt(client, url, PASSWORD))
    client.logout()
    for n in range(4):
        assert attempt(client, url, f"guess again {n}").status_code == 200


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_the_lock_holds_only_the_username_and_address_pair(
        client, alice, django_user_model, url):
    django_user_model.objects.create_user("bob", password=PASSWORD, is_staff=True)
    lock(client, url, failures=5)
    # The real alice from her own address, and bob from the attacker's, still get in.
    assert logged_in(attempt(client, url, PASSWORD, address=USER))
    client.logout()
    assert logged_in(attempt(client, url, PASSWORD, username="bob"))


def test_the_lock_ends_after_the_cool_off(client, alice, settings):
    settings.AXES_COOLOFF_TIME = dt.timedelta(seconds=1)
    lock(client, "/accounts/login/", failures=5)
    assert attempt(client, "/accounts/login/", PASSWORD).status_code == 429
    time.sleep(1.5)
    assert logged_in(attempt(client, "/accounts/login/", PASSWORD))


def test_an_administrator_unlocks_in_the_admin(client, alice, admin_client):
    lock(client, "/accounts/login/", failures=5)
    locked = AccessAttempt.objects.get(username="alice", ip_address=ATTACKER)

    changelist = reverse("admin:axes_accessattempt_changelist")
    page = admin_client.get(changelist + "?locked_out=yes")
    assert "alice" in page.text and "Locked Out" in page.text
    response = admin_client.post(changelist, {"action": "delete_selected", "post": "yes",
                                              "_selected_action": [locked.pk]})
    assert response.status_code == 302

    assert not AccessAttempt.objects.exists()
    assert logged_in(attempt(client, "/accounts/login/", PASSWORD))


def test_an_administrator_unlocks_with_axes_reset(client, alice):
    lock(client, "/admin/login/", failures=5)
    call_command("axes_reset_username", "alice")
    assert logged_in(attempt(client, "/admin/login/", PASSWORD))
