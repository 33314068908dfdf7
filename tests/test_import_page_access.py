"""Who may use the admin's Import page, for every URL and method: a superuser, staff with
and without the add permission on remote accounts, a user who is not staff, nobody."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from retrieval.models import RemoteAccount

pytestmark = pytest.mark.django_db

URLS = [("popadmin_import", "get"), ("popadmin_import", "post"),
        ("popadmin_import_confirm", "post")]


@pytest.fixture
def people(django_user_model):
    make = django_user_model.objects.create_user
    importer = make("importer", is_staff=True)
    importer.user_permissions.add(Permission.objects.get(codename="add_remoteaccount"))
    return {
        "superuser": django_user_model.objects.create_superuser("root", "r@x.test", "x"),
        "importer": importer,
        "staff": make("ops", is_staff=True),
        "user": make("alice"),
    }


def call(client, name, method):
    return getattr(client, method)(reverse(name), {"kind": "fetchmail"})


@pytest.mark.parametrize(("name", "method"), URLS)
@pytest.mark.parametrize("who", ["superuser", "importer"])
def test_staff_with_the_add_permission_get_the_page(client, people, who, name, method):
    client.force_login(people[who])
    response = call(client, name, method)
    assert response.status_code == 200
    assert b"From fetchmail" in response.content


@pytest.mark.parametrize(("name", "method"), URLS)
@pytest.mark.parametrize("who", ["staff", "user"])
def test_others_signed_in_are_refused(client, people, who, name, method):
    client.force_login(people[who])
    assert call(client, name, method).status_code == 403


@pytest.mark.parametrize(("name", "method"), URLS)
def test_anonymous_visitors_go_to_the_login(client, name, method):
    response = call(client, name, method)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=")


def test_the_admin_index_links_the_page_for_those_who_may_use_it(client, people):
    link = reverse("popadmin_import").encode()
    client.force_login(people["importer"])
    assert link in client.get(reverse("admin:index")).content
    client.force_login(people["staff"])
    assert link not in client.get(reverse("admin:index")).content


def test_a_refused_user_imports_nothing(client, people, tmp_path):
    client.force_login(people["staff"])
    rc = tmp_path / "fetchmailrc"
    rc.write_text("poll pop.remote.test proto pop3 user a pass b\n")
    with rc.open("rb") as fh:
        client.post(reverse("popadmin_import"), {"kind": "fetchmail", "fm-rcfile": fh})
    assert not RemoteAccount.objects.exists()
