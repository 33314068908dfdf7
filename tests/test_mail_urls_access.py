"""Every URL of the mail page, tried by the owner of a message, another user,
staff (with a mailbox of their own) and an anonymous visitor: only the owner
sees the message or anything of it; for anyone else it does not exist (404),
and anonymous visitors are sent to the login page."""

import pytest
from django.urls import reverse

from tests.factories import make_mailbox
from tests.mail_helpers import file_of, fresh_mail_root, plain, store

pytestmark = pytest.mark.django_db

SUBJECT = "Owner-only subject 7f3a"
BODY = "Owner-only body 9c2e"


@pytest.fixture(autouse=True)
def mail_root(settings, tmp_path):
    return fresh_mail_root(settings, tmp_path)


@pytest.fixture
def people(django_user_model):
    def person(name, **flags):
        user = django_user_model.objects.create_user(name, password="x", **flags)
        make_mailbox(f"{name}@local.test", user=user)
        return user

    owner = person("owner")
    raw = plain(SUBJECT, BODY, html=f"<p>{BODY}</p>",
                attachments=[("notes.txt", "text/plain", BODY.encode())])
    return {
        "owner": owner, "other": person("other"),
        "staff": person("staff", is_staff=True, is_superuser=True), "anonymous": None,
        "message": store(owner.mailbox, raw, subject=SUBJECT),
    }


# (url name, method, extra args after the message id, status for the owner)
MESSAGE_URLS = [
    ("mail-message", "get", (), 200),
    ("mail-message-body", "get", (), 200),
    ("mail-attachment", "get", (3,), 200),
    ("mail-original", "get", (), 200),
    ("mail-flags", "post", (), 302),
]


def call(client, user, method, url):
    if user is not None:
        client.force_login(user)
    return getattr(client, method)(url)


@pytest.mark.parametrize("name,method,extra,owner_status", MESSAGE_URLS)
@pytest.mark.parametrize("who", ["owner", "other", "staff", "anonymous"])
def test_message_urls(client, people, who, name, method, extra, owner_status):
    message = people["message"]
    url = reverse(name, args=[message.pk, *extra])
    before = file_of(people["owner"].mailbox, message)

    response = call(client, people[who], method, url)

    body = response.content
    if who == "owner":
        assert response.status_code == owner_status
        if name != "mail-flags":
            assert BODY.encode() in body or SUBJECT.encode() in body
    elif who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    else:
        assert response.status_code == 404
        assert BODY.encode() not in body and SUBJECT.encode() not in body
        # Nobody else's request marks it read either.
        assert file_of(people["owner"].mailbox, message) == before


@pytest.mark.parametrize("name", ["mail-home", "mail-feed"])
@pytest.mark.parametrize("who", ["owner", "other", "staff", "anonymous"])
def test_list_urls_show_only_ones_own_mail(client, people, who, name):
    response = call(client, people[who], "get", reverse(name) + "?after=0")

    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
        return
    assert response.status_code == 200
    assert (SUBJECT.encode() in response.content) == (who == "owner")


def test_a_user_without_a_mailbox_sees_no_mail(client, people, django_user_model):
    lone = django_user_model.objects.create_user("lone", password="x")
    client.force_login(lone)

    assert b"No mailbox is linked" in client.get(reverse("mail-home")).content
    assert client.get(reverse("mail-message", args=[people["message"].pk])).status_code == 404
    assert client.get(reverse("mail-feed")).json()["rows"] == []
