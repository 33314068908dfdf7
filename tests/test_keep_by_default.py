"""New accounts leave a copy on the server unless told otherwise; imports keep what the
rc file says."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Mailbox
from retrieval.models import RemoteAccount
from tests.factories import make_mailbox
from tests.test_user_self_service import user_with

pytestmark = pytest.mark.django_db


def test_the_model_default_keeps_a_copy():
    assert RemoteAccount(host="h", username="u").keep_policy == RemoteAccount.Keep.KEEP


def test_the_admin_add_form_starts_at_keep(admin_client):
    form = admin_client.get(reverse("admin:retrieval_remoteaccount_add")).context["adminform"]
    assert form.form["keep_policy"].value() == "keep"


def test_the_self_service_add_form_starts_at_keep(client, django_user_model, settings):
    settings.POPADMIN_DNS_SERVERS = ["127.0.0.1:9"]
    client.force_login(user_with(django_user_model))
    page = client.get(reverse("mail-account-add"), {"address": "me@example.test"})
    assert page.context["form"]["keep_policy"].value() == "keep"


def test_a_saved_account_without_a_keep_policy_keeps(admin_client):
    account = RemoteAccount(owner=make_mailbox(), host="h.test", username="u")
    account.save()
    account.refresh_from_db()
    assert account.keep_policy == "keep"


def test_an_import_keeps_what_the_rc_file_says(tmp_path):
    """fetchmail deletes unless told `keep`: the import says so explicitly, whatever
    the model's default."""
    Mailbox.objects.create(address="smith@local.test")
    rc = tmp_path / "fetchmailrc"
    rc.write_text("poll pop.remote.test proto pop3 user a pass p is smith@local.test here\n"
                  "poll pop.remote.test proto pop3 user b pass p is smith@local.test here "
                  "keep\n")
    call_command("import_fetchmailrc", str(rc), stdout=io.StringIO())
    policies = dict(RemoteAccount.objects.values_list("username", "keep_policy"))
    assert policies == {"a": "delete", "b": "keep"}
