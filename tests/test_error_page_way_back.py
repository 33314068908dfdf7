"""The 403 and 404 pages offer the way back only to a page of this site."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("referer,shown", [
    ("http://testserver/mail/", True),
    ("https://elsewhere.example/phish", False),
    ("javascript:alert(1)", False),
])
def test_the_way_back_stays_on_this_site(client, referer, shown):
    response = client.get("/no/such/page/", HTTP_REFERER=referer)
    body = response.content.decode()
    assert response.status_code == 404 and "Page not found" in body
    assert ("Back to the page you came from" in body) is shown
    assert "elsewhere.example" not in body and "javascript:" not in body


def test_a_forbidden_page_names_no_staff_link_to_a_plain_user(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("plain"))
    body = client.get("/dashboard/", HTTP_REFERER="http://testserver/mail/").content.decode()
    assert "You may not open this page" in body and "Staff only." in body
    assert 'href="/mail/"' in body and "/admin/" not in body.split("<main")[1].split("Log out")[0]
