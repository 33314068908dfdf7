"""Stop service asks once more, saying what stopping means; Start does not."""

import pytest
from django.urls import reverse

from retrieval.models import GlobalSettings
from tests.admin_helpers import staff

pytestmark = pytest.mark.django_db


def test_stop_asks_first(admin_client):
    page = admin_client.post(reverse("dashboard-service"), {"running": "0"})
    assert page.status_code == 200
    assert "Stop mail collection?" in page.content.decode()
    assert GlobalSettings.load().service_running

    done = admin_client.post(reverse("dashboard-service"), {"running": "0", "confirm": "1"})
    assert done.status_code == 302
    assert not GlobalSettings.load().service_running


def test_start_needs_no_confirmation(admin_client):
    gs = GlobalSettings.load()
    gs.service_running = False
    gs.save()
    admin_client.post(reverse("dashboard-service"), {"running": "1"})
    assert GlobalSettings.load().service_running


def test_staff_without_the_permission_get_no_confirmation_page(client, django_user_model):
    client.force_login(staff(django_user_model, "clerk", "view_remoteaccount"))
    assert client.post(reverse("dashboard-service"), {"running": "0"}).status_code == 403
