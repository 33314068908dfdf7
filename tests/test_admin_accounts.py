"""The admin console through Django's test client: who gets in, and how
remote-account passwords are taken in and never given back."""

import html
import re
from urllib.parse import urlencode

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from retrieval.admin import TLS_WARNING
from retrieval.models import RemoteAccount, Run
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "s3cret pässword \"'\\ with spaces"
CREDENTIAL_ERROR = "Carriage return, line feed and NUL are not allowed here."
NUL_ERROR = "Null characters are not allowed."



def make_remote(owner=None, password="stored password", **fields) -> RemoteAccount:
    """An account row only: nothing here connects anywhere."""
    fields.setdefault("host", "pop.example.test")
    fields.setdefault("username", "alice")
    account = RemoteAccount(owner=owner or make_mailbox(), **fields)
    account.set_password(password)
    account.save()
    return account


def form_data(owner, **overrides) -> dict:
    """What the admin's add/change form posts for a POP3 account."""
    data = {
        "owner": owner.pk,
        "name": "",
        "enabled": "on",
        "protocol": "pop3",
        "security": "tls",
        "host": "pop.example.test",
        "port": "995",
        "verify_tls": "on",
        "username": "alice",
        "password": "",
        "folders": "[]",
        "mode": "single",
        "target_folder": "",
        "keep_policy": "delete",
        "keep_days": "7",
        "max_message_mb": "0",
        "poll_minutes": "",
        "next_check_0": "",
        "next_check_1": "",
        "_save": "Save",
        # These tests are about what is stored: no login first (test_admin_save_tests_first).
        "save_anyway": "1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def field_errors(response, field) -> list[str]:
    form = response.context["adminform"].form
    return list(form.errors.get(field, []))


# --- who gets in ----------------------------------------------------------


@pytest.fixture
def account():
    return make_remote()


@pytest.fixture
def normal_user(django_user_model):
    """A login with a mailbox of its own: a mail user, not an administrator."""
    user = django_user_model.objects.create_user("mailuser", password="mail user password")
    make_mailbox(user=user)
    return user


ADMIN_PAGES = [
    ("admin:retrieval_remoteaccount_changelist", False),
    ("admin:retrieval_remoteaccount_add", False),
    ("admin:retrieval_remoteaccount_change", True),
    ("admin:retrieval_run_changelist", False),
    ("admin:delivery_delivery_changelist", False),
    ("admin:retrieval_globalsettings_changelist", False),
    ("admin:retrieval_usersettings_changelist", False),
    ("admin:accounts_mailbox_changelist", False),
]


def page_url(name, takes_pk, account):
    return reverse(name, args=[account.pk] if takes_pk else [])


def login_redirect(url):
    return reverse("admin:login") + "?" + urlencode({"next": url}, safe="/")


@pytest.mark.parametrize(("name", "takes_pk"), ADMIN_PAGES)
def test_it_serves_admin_pages_to_the_superuser(admin_client, account, name, takes_pk):
    response = admin_client.get(page_url(name, takes_pk, account))

    if name == "admin:retrieval_globalsettings_changelist":
        # The one record is the list: see test_admin_settings.py.
        assert response.status_code == 302
    else:
        assert response.status_code == 200


@pytest.mark.parametrize("who", ["normal user", "outsider"])
@pytest.mark.parametrize(("name", "takes_pk"), ADMIN_PAGES)
def test_it_sends_everyone_else_to_the_login_page(client, normal_user, account, who, name,
                                                   takes_pk):
    if who == "normal user":
        client.force_login(normal_user)
    url = page_url(name, takes_pk, account)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == login_redirect(url)


def test_it_refuses_a_post_from_a_normal_user(client, normal_user, account):
    client.force_login(normal_user)
    url = reverse("admin:retrieval_remoteaccount_change", args=[account.pk])

    response = client.post(url, form_data(account.owner, host="evil.example.test",
                                          password="taken over"))

    assert response.status_code == 302
    assert response["Location"] == login_redirect(url)
    account.refresh_from_db()
    assert (account.host, account.get_password()) == ("pop.example.test", "stored password")


def test_it_forbids_a_staff_user_without_permissions(client, django_user_model, account):
    staff = django_user_model.objects.create_user("staff", password="staff pw", is_staff=True)
    client.force_login(staff)

    for name, takes_pk in ADMIN_PAGES:
        response = client.get(page_url(name, takes_pk, account))
        assert response.status_code == 403, name


# --- write-only password ----------------------------------------------------


def test_it_stores_a_password_added_in_the_admin_encrypted(admin_client):
    owner = make_mailbox()

    response = admin_client.post(reverse("admin:retrieval_remoteaccount_add"),
                                 form_data(owner, password=NEW_PASSWORD))

    assert response.status_code == 302, response.context and response.context["errors"]
    account = RemoteAccount.objects.get(owner=owner)
    assert account.password_encrypted
    assert NEW_PASSWORD not in account.password_encrypted
    assert account.get_password() == NEW_PASSWORD
    assert (account.protocol, account.security, account.port) == ("pop3", "tls", 995)


def test_it_never_shows_the_password_on_the_change_page(admin_client):
    account = make_remote(password=NEW_PASSWORD)

    pages = [
        admin_client.get(reverse("admin:retrieval_remoteaccount_change", args=[account.pk])),
        admin_client.get(reverse("admin:retrieval_remoteaccount_changelist")),
    ]

    for response in pages:
        assert response.status_code == 200
        text = html.unescape(response.content.decode())
        assert NEW_PASSWORD not in text
        assert account.password_encrypted not in text
        assert account.password_encrypted[:24] not in text
    assert 'name="password"' in pages[0].content.decode()


def test_it_keeps_the_old_password_when_the_field_is_left_empty(admin_client):
    account = make_remote(password="the old one")
    before = account.password_encrypted

    response = admin_client.post(
        reverse("admin:retrieval_remoteaccount_change", args=[account.pk]),
        form_data(account.owner, password="", name="Renamed", max_message_mb="5"),
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.max_message_mb) == ("Renamed", 5)
    assert account.password_encrypted == before
    assert account.get_password() == "the old one"


def test_it_replaces_the_password_when_a_new_one_is_given(admin_client):
    account = make_remote(password="the old one")

    admin_client.post(reverse("admin:retrieval_remoteaccount_change", args=[account.pk]),
                      form_data(account.owner, password="the new one"))

    account.refresh_from_db()
    assert account.get_password() == "the new one"


def test_it_requires_a_password_for_a_new_account(admin_client):
    owner = make_mailbox()

    response = admin_client.post(reverse("admin:retrieval_remoteaccount_add"), form_data(owner))

    assert response.status_code == 200
    assert field_errors(response, "password") == ["A password is required for a new account."]
    assert not RemoteAccount.objects.exists()


@pytest.mark.parametrize("bad", ["\r", "\n", "\r\n", "\0"], ids=["CR", "LF", "CRLF", "NUL"])
@pytest.mark.parametrize("field", ["password", "username"])
def test_it_rejects_line_breaks_and_nul_in_credentials(admin_client, field, bad):
    owner = make_mailbox()
    value = f"x{bad}DELE 1{bad}QUIT-secret"
    data = form_data(owner, password="fine password")
    data[field] = value

    response = admin_client.post(reverse("admin:retrieval_remoteaccount_add"), data)

    assert response.status_code == 200
    errors = field_errors(response, field)
    # Django's own check for NUL may answer first; both messages say what is wrong.
    assert errors and set(errors) <= {CREDENTIAL_ERROR, NUL_ERROR}
    assert CREDENTIAL_ERROR in errors or bad == "\0"
    # The errors say what is wrong, never repeat the value, and a bad
    # password does not also claim that none was given.
    assert all("QUIT-secret" not in e for e in errors)
    assert "A password is required for a new account." not in errors
    assert not RemoteAccount.objects.exists()
    if field == "password":
        assert "QUIT-secret" not in response.content.decode()


def test_it_rejects_a_bad_password_on_the_change_page_and_keeps_the_old(admin_client):
    account = make_remote(password="the old one")

    response = admin_client.post(
        reverse("admin:retrieval_remoteaccount_change", args=[account.pk]),
        form_data(account.owner, password="new\r\nDELE 1"),
    )

    assert response.status_code == 200
    assert field_errors(response, "password") == [CREDENTIAL_ERROR]
    account.refresh_from_db()
    assert account.get_password() == "the old one"


# --- TLS warning ----------------------------------------------------------------


def test_it_warns_about_unverified_tls_on_the_list_and_the_change_page(admin_client):
    unverified = make_remote(verify_tls=False, username="bob")
    verified = make_remote(owner=unverified.owner, username="carol")

    listing = admin_client.get(reverse("admin:retrieval_remoteaccount_changelist"))
    change = admin_client.get(
        reverse("admin:retrieval_remoteaccount_change", args=[unverified.pk]))
    quiet = admin_client.get(reverse("admin:retrieval_remoteaccount_change", args=[verified.pk]))

    rows = re.findall(r"<tr>.*?</tr>", listing.content.decode(), re.S)
    bob = [r for r in rows if ">bob<" in r]
    carol = [r for r in rows if ">carol<" in r]
    assert len(bob) == len(carol) == 1
    assert TLS_WARNING in bob[0]
    assert TLS_WARNING not in carol[0]
    assert TLS_WARNING in change.content.decode()
    assert TLS_WARNING not in quiet.content.decode()


def test_it_flags_plain_text_accounts_on_the_list(admin_client):
    make_remote(security="none", verify_tls=False)

    listing = admin_client.get(reverse("admin:retrieval_remoteaccount_changelist"))

    assert "⚠ plain text" in listing.content.decode()
    assert TLS_WARNING not in listing.content.decode()


# --- Check now ------------------------------------------------------------------


def test_it_starts_a_check_for_the_selected_accounts(
    admin_client, django_capture_on_commit_callbacks
):
    owner = make_mailbox()
    picked = [make_remote(owner=owner, username=f"user{i}") for i in range(2)]
    make_remote(owner=owner, username="not picked")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            reverse("admin:retrieval_remoteaccount_changelist"),
            {"action": "check_now", "_selected_action": [a.pk for a in picked]},
        )

    assert response.status_code == 302
    # One publication after the commit, carrying a task for each picked account.
    (publish,) = callbacks
    assert sorted(pk for pk, _trigger, _task in publish.args[0]) == [a.pk for a in picked]
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["Check started for 2 account(s)."]
    # Nothing ran in the web process: the worker writes the runs.
    assert not Run.objects.exists()
