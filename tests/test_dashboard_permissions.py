"""Who may see the dashboard, its fragment, the service switch, /metrics and /healthz:
staff, a signed-in user who is not staff, and nobody signed in, for every URL."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from retrieval.models import GlobalSettings

pytestmark = pytest.mark.django_db

PAGES = ["dashboard", "dashboard-live"]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", password="x", is_staff=True)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="x")


@pytest.mark.parametrize("name", PAGES)
def test_it_shows_staff_the_dashboard(client, staff, name):
    client.force_login(staff)
    assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", PAGES)
def test_it_refuses_a_user_who_is_not_staff(client, user, name):
    client.force_login(user)
    assert client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_it_sends_anonymous_visitors_to_the_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=")


def test_it_lets_only_staff_with_the_change_permission_switch_the_service(client, staff, user):
    url = reverse("dashboard-service")
    assert client.post(url, {"running": "0"}).status_code == 302  # to the login
    client.force_login(user)
    assert client.post(url, {"running": "0"}).status_code == 403
    client.force_login(staff)
    assert client.post(url, {"running": "0"}).status_code == 403
    assert GlobalSettings.load().service_running
    # Staff without the permission see the state, not the button.
    assert b"Stop service" not in client.get(reverse("dashboard")).content

    staff.user_permissions.add(Permission.objects.get(codename="change_globalsettings"))
    response = client.post(url, {"running": "0", "confirm": "1"})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert not GlobalSettings.load().service_running


def test_it_refuses_a_get_on_the_service_switch(admin_client):
    assert admin_client.get(reverse("dashboard-service")).status_code == 405


def test_it_serves_metrics_to_staff_or_the_token_only(client, staff, user, settings):
    url = reverse("metrics")
    response = client.get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    client.force_login(user)
    assert client.get(url).status_code == 403
    client.force_login(staff)
    assert client.get(url).status_code == 200
    client.logout()

    settings.POPADMIN_METRICS_TOKEN = "scrape-secret"
    assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer scrape-secret"}).status_code == 200
    assert b"scrape-secret" not in client.get(url).content


def test_it_answers_healthz_to_anyone_without_account_data(client, user, staff):
    from retrieval.models import RemoteAccount
    from tests.factories import make_mailbox

    RemoteAccount.objects.create(owner=make_mailbox(), host="secret-host.example",
                                 username="bob", last_error="boom at secret-host.example")
    for who in (None, user, staff):
        if who:
            client.force_login(who)
        response = client.get(reverse("healthz"))
        assert response.status_code in (200, 503)
        assert b"secret-host" not in response.content and b"bob" not in response.content
        assert set(response.json()["checks"]) == {"database", "broker", "workers", "beat",
                                                  "slots", "storage"}


def test_it_lands_staff_on_the_dashboard_after_the_admin_login(client, staff):
    page = client.get(reverse("admin:login") + "?next=/admin/")
    assert b'name="next" value="/dashboard/"' in page.content
    response = client.post(reverse("admin:login"),
                           {"username": "ops", "password": "x", "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")


def test_it_keeps_another_page_staff_asked_for(client, staff):
    wanted = reverse("admin:retrieval_run_changelist")
    response = client.post(reverse("admin:login") + f"?next={wanted}",
                           {"username": "ops", "password": "x", "next": wanted})
    assert response["Location"] == wanted


def test_it_lands_staff_on_the_dashboard_and_users_on_their_mail_after_the_user_login(
    client, staff, user
):
    response = client.post(reverse("login"), {"username": "ops", "password": "x"})
    assert response["Location"] == reverse("dashboard")
    client.logout()
    response = client.post(reverse("login"), {"username": "alice", "password": "x"})
    assert response["Location"] == reverse("mail-home")
