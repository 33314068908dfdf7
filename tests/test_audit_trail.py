"""The audit trail (django-auditlog): changes in the admin and actions on the user page are
recorded with who, what, when and the client's address; secrets only as "changed"; and
nobody, superusers included, edits or deletes the trail."""

import json

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from retrieval import dispatcher
from retrieval.models import GlobalSettings, RemoteAccount
from tests.test_admin_accounts import form_data, make_remote
from tests.test_user_accounts_page import make_user

pytestmark = pytest.mark.django_db

ADMIN_ADDRESS, USER_ADDRESS = "192.0.2.10", "2001:db8::7"
NEW_REMOTE_PASSWORD = "new remote pässword 42"



@pytest.fixture
def requested(monkeypatch):
    monkeypatch.setattr(dispatcher, "request_check", lambda ids, trigger: list(ids))


def entries_for(obj):
    return LogEntry.objects.get_for_object(obj).order_by("timestamp")


def everything_stored(entry) -> str:
    return json.dumps([entry.changes, entry.changes_text, entry.additional_data,
                       entry.serialized_data, entry.object_repr], default=str)


def test_an_admin_edit_is_recorded_with_actor_address_and_change(admin_client, admin_user):
    account = make_remote()
    url = reverse("admin:retrieval_remoteaccount_change", args=[account.pk])
    # A field that keeps the server: a new host would want the password typed again
    # (retrieval/credential_reuse.py).
    response = admin_client.post(url, form_data(account.owner, name="Work mail"),
                                 REMOTE_ADDR=ADMIN_ADDRESS)
    assert response.status_code == 302

    entry = entries_for(account).filter(action=LogEntry.Action.UPDATE).last()
    assert entry.action == LogEntry.Action.UPDATE
    assert (entry.actor, entry.remote_addr) == (admin_user, ADMIN_ADDRESS)
    assert entry.changes_dict["name"] == ["", "Work mail"]
    assert entry.timestamp is not None


def test_a_check_now_on_the_user_page_is_recorded(client, django_user_model, requested):
    user = make_user(django_user_model, "carol")
    account = RemoteAccount(owner=user.mailbox, host="pop.example.test", username="carol")
    account.set_password("x")
    account.save()
    client.force_login(user)

    response = client.post(reverse("mail-check-account", args=[account.pk]),
                           REMOTE_ADDR=USER_ADDRESS)
    assert response.status_code == 302

    entry = entries_for(account).get(action=LogEntry.Action.ACCESS)
    assert (entry.actor, entry.remote_addr) == (user, USER_ADDRESS)
    assert entry.additional_data == {"event": "check now", "via": "user page", "queued": True}


def test_the_admin_check_now_action_is_recorded(admin_client, admin_user, requested):
    account = make_remote()
    admin_client.post(reverse("admin:retrieval_remoteaccount_changelist"),
                      {"action": "check_now", "_selected_action": [account.pk]},
                      REMOTE_ADDR=ADMIN_ADDRESS)
    entry = entries_for(account).get(action=LogEntry.Action.ACCESS)
    assert (entry.actor, entry.remote_addr) == (admin_user, ADMIN_ADDRESS)
    assert entry.additional_data["via"] == "admin"


def test_a_remote_password_change_is_recorded_without_its_value(admin_client):
    account = make_remote()
    old_ciphertext = account.password_encrypted
    url = reverse("admin:retrieval_remoteaccount_change", args=[account.pk])
    admin_client.post(url, form_data(account.owner, password=NEW_REMOTE_PASSWORD),
                      REMOTE_ADDR=ADMIN_ADDRESS)
    account.refresh_from_db()
    assert account.get_password() == NEW_REMOTE_PASSWORD

    # The save also starts a check (its own ACCESS entry): the edit is the UPDATE.
    entry = entries_for(account).filter(action=LogEntry.Action.UPDATE).last()
    assert entry.changes_dict["password_encrypted"] == ["(hidden)", "(hidden)"]
    for entry in entries_for(account):
        stored = everything_stored(entry)
        for secret in (NEW_REMOTE_PASSWORD, "stored password", old_ciphertext,
                       account.password_encrypted, old_ciphertext[20:40]):
            assert secret not in stored


def test_a_login_password_change_is_recorded_without_its_value(admin_client, admin_user,
                                                              django_user_model):
    user = django_user_model.objects.create_user("dave", password="old login password")
    old_hash = user.password
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    response = admin_client.post(url, {"password1": "new login pässword 9",
                                       "password2": "new login pässword 9"},
                                 REMOTE_ADDR=ADMIN_ADDRESS)
    assert response.status_code == 302
    user.refresh_from_db()

    entry = entries_for(user).last()
    assert (entry.actor, entry.remote_addr) == (admin_user, ADMIN_ADDRESS)
    assert entry.changes_dict == {"password": ["(hidden)", "(hidden)"]}
    stored = "".join(everything_stored(e) for e in entries_for(user))
    for secret in ("new login pässword 9", "old login password", old_hash, user.password,
                   user.password.split("$")[-1]):
        assert secret not in stored


def test_stopping_the_service_is_recorded(admin_client, admin_user):
    settings_row = GlobalSettings.load()
    url = reverse("admin:retrieval_globalsettings_change", args=[settings_row.pk])
    form = admin_client.get(url).context["adminform"].form
    # The form as the page shows it, with only the service switch turned off.
    data = {bf.html_name: "on" if bf.value() is True else bf.value()
            for bf in form if bf.value() is not None and bf.value() is not False}
    del data["service_running"]
    data["confirm_stop"] = "on"  # turning the service off is asked twice
    assert admin_client.post(url, data, REMOTE_ADDR=ADMIN_ADDRESS).status_code == 302

    entry = entries_for(settings_row).last()
    assert (entry.actor, entry.remote_addr) == (admin_user, ADMIN_ADDRESS)
    assert entry.changes_dict["service_running"] == ["True", "False"]


def test_the_admin_shows_the_trail(admin_client, requested):
    account = make_remote()
    admin_client.post(reverse("admin:retrieval_remoteaccount_changelist"),
                      {"action": "check_now", "_selected_action": [account.pk]},
                      REMOTE_ADDR=ADMIN_ADDRESS)
    page = admin_client.get(reverse("admin:auditlog_logentry_changelist"))
    assert page.status_code == 200
    assert ADMIN_ADDRESS in page.text and "check now (admin)" in page.text


@pytest.fixture
def audit_staff(django_user_model):
    """Staff with every permission the trail has: still cannot change it."""
    user = django_user_model.objects.create_user("auditor", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="auditlog"))
    return user


@pytest.mark.parametrize("who", ["staff", "superuser"])
def test_nobody_edits_or_deletes_the_trail(client, admin_client, audit_staff, who):
    if who == "staff":
        client.force_login(audit_staff)
    else:
        client = admin_client
    account = make_remote()  # created outside a request: an entry without actor
    entry = entries_for(account).get()
    change = reverse("admin:auditlog_logentry_change", args=[entry.pk])

    page = client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert client.post(change, {"object_repr": "forged"}).status_code == 403
    assert client.post(reverse("admin:auditlog_logentry_delete", args=[entry.pk]),
                       {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:auditlog_logentry_add")).status_code == 403
    client.post(reverse("admin:auditlog_logentry_changelist"),
                {"action": "delete_selected", "post": "yes", "_selected_action": [entry.pk]})
    entry.refresh_from_db()
    assert entry.object_repr == str(account)
