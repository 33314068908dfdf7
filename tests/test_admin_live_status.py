"""The admin's live account status (`live-status/`): staff with the view permission
get each asked account's list cells and, for the account page, its status block;
other staff get 403; people who are not staff, and anonymous visitors, the admin's
login. No answer carries a password."""

import pytest
from django.urls import reverse

from tests.admin_helpers import make_remote, staff
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

URL = reverse("admin:retrieval_remoteaccount_live")


@pytest.fixture
def account():
    return make_remote(owner=make_mailbox("owner@local.test"), password="remote secret")


def test_it_answers_staff_who_may_view_accounts(client, django_user_model, account):
    client.force_login(staff(django_user_model, "viewer", "view_remoteaccount"))
    answer = client.get(URL, {"id": [account.pk, 999999]})
    assert answer.status_code == 200 and answer["Cache-Control"].startswith("max-age=0")
    entry = answer.json()["accounts"][str(account.pk)]
    assert set(entry["cells"]) == {"status_badge", "checked", "last_error_display"}
    assert "Never checked" in entry["cells"]["status_badge"]
    assert "999999" not in answer.json()["accounts"] and "html" not in entry

    page = client.get(URL, {"id": account.pk, "page": "1"}).json()["accounts"][str(account.pk)]
    assert 'id="popadmin-progress"' in page["html"] and "first check due now" in page["html"]
    assert isinstance(page["active"], bool)
    assert "remote secret" not in answer.content.decode() + page["html"]
    # A view-only staff user gets no button that acts on the account.
    assert "popadmin-retry-refused" not in page["html"]


def test_it_refuses_staff_without_the_view_permission(client, django_user_model, account):
    client.force_login(staff(django_user_model, "clerk"))
    assert client.get(URL, {"id": account.pk}).status_code == 403


def test_it_sends_a_user_who_is_not_staff_to_the_admin_login(client, django_user_model,
                                                             account):
    client.force_login(django_user_model.objects.create_user("plain", password="x"))
    response = client.get(URL, {"id": account.pk, "page": "1"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_sends_anonymous_visitors_to_the_admin_login(client, account):
    response = client.get(URL, {"id": account.pk})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
