"""An account a user adds on their own pages is recorded as theirs (created_by_user),
so an import warns before rewriting it; the upgrade reads the record from the audit
trail for accounts added before."""

import importlib

import pytest
from auditlog.models import LogEntry
from django.apps import apps
from django.urls import reverse

from retrieval.models import RemoteAccount
from tests.factories import make_mailbox
from tests.test_user_self_service import allow_loopback, fields, user_with

pytestmark = pytest.mark.django_db

backfill = importlib.import_module("retrieval.migrations.0025_account_created_by")


@pytest.fixture(autouse=True)
def dovecot_ports_allowed(settings, dovecot):
    settings.POPADMIN_ALLOWED_PORTS = [dovecot.pop3s_port, dovecot.imaps_port]


def test_an_account_a_user_adds_is_recorded_as_theirs(client, django_user_model, dovecot,
                                                      mail_user):
    me = user_with(django_user_model)
    client.force_login(me)
    allow_loopback()

    response = client.post(reverse("mail-account-add"), fields(dovecot, mail_user))

    assert response.status_code == 302
    assert RemoteAccount.objects.get(owner=me.mailbox).created_by_user


def test_a_user_editing_a_staff_made_account_does_not_make_it_theirs(client, django_user_model,
                                                                     dovecot, mail_user):
    me = user_with(django_user_model)
    client.force_login(me)
    allow_loopback()
    account = RemoteAccount(owner=me.mailbox, host="127.0.0.1", port=dovecot.pop3s_port,
                            username=mail_user[0])
    account.set_password(mail_user[1])
    account.save()

    response = client.post(reverse("mail-account-edit", args=[account.pk]),
                           fields(dovecot, mail_user, name="renamed"))

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "renamed" and not account.created_by_user


def test_the_upgrade_marks_accounts_the_audit_trail_shows_their_user_added(django_user_model):
    alice = django_user_model.objects.create_user("alice")
    admin = django_user_model.objects.create_user("admin", is_staff=True)
    mailbox = make_mailbox("alice@local.test", user=alice)
    by_user, by_staff, by_import = (
        RemoteAccount.objects.create(owner=mailbox, host=f"{n}.remote.test", username="alice")
        for n in ("mine", "staff", "import"))
    for account, actor in ((by_user, alice), (by_staff, admin)):
        LogEntry.objects.filter(object_pk=str(account.pk), action=LogEntry.Action.CREATE,
                                content_type__model="remoteaccount").update(actor=actor)

    backfill.from_audit_trail(apps, None)

    marked = set(RemoteAccount.objects.filter(created_by_user=True).values_list("host", flat=True))
    assert marked == {"mine.remote.test"}
