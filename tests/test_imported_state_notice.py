"""The account forms say what becomes of imported seen-state when the keep policy
changes to one that deletes: those messages stay on the server, untouched."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from retrieval.models import RemoteAccount, SeenMessage
from tests.admin_helpers import make_remote
from tests.test_admin_account_save import form_data
from tests.test_user_self_service import allow_loopback, fields, me  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

NOTICE = ("3 message(s) on this server are recorded as already taken by an import "
          "(fetchmail, getmail or the server's \\Seen flags), not downloaded by popadmin. "
          "No keep policy deletes them: they stay on the server, untouched and not fetched, "
          "until removed there.")


def imported(account, n=3, taken=2):
    SeenMessage.objects.bulk_create(
        [SeenMessage(account=account, uid=f"INBOX/1/{i}", origin=SeenMessage.Origin.IMPORTED)
         for i in range(n)]
        + [SeenMessage(account=account, uid=f"INBOX/1/{100 + i}", message_key="mid:x")
           for i in range(taken)])


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("policy", ["delete", "keep_days"])
def test_admin_says_so_when_the_policy_changes_to_one_that_deletes(admin_client, policy):
    account = make_remote(host="host.invalid", keep_policy=RemoteAccount.Keep.KEEP)
    imported(account)

    response = admin_client.post(
        reverse("admin:retrieval_remoteaccount_change", args=[account.pk]),
        form_data(account.owner, host="host.invalid", keep_policy=policy))

    assert response.status_code == 302
    assert NOTICE in said(response)


def test_admin_says_nothing_without_imported_state_or_a_deleting_policy(admin_client):
    plain = make_remote(host="host.invalid", keep_policy=RemoteAccount.Keep.KEEP)
    with_import = make_remote(host="host.invalid", username="bob",
                              keep_policy=RemoteAccount.Keep.DELETE)
    imported(with_import)
    url = "admin:retrieval_remoteaccount_change"

    first = admin_client.post(reverse(url, args=[plain.pk]),
                              form_data(plain.owner, host="host.invalid", keep_policy="delete"))
    second = admin_client.post(reverse(url, args=[with_import.pk]), form_data(
        with_import.owner, host="host.invalid", username="bob", keep_policy="keep"))

    assert not any("import" in s for s in said(first) + said(second))


def test_admin_form_tells_it_before_the_change(admin_client):
    account = make_remote(host="host.invalid", keep_policy=RemoteAccount.Keep.KEEP)
    imported(account)

    page = admin_client.get(reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))

    assert "stay on the server, untouched and not fetched" in page.content.decode()


def test_the_users_own_form_says_so_too(client, me, dovecot, mail_user, settings):  # noqa: F811
    settings.POPADMIN_ALLOWED_PORTS = [dovecot.pop3s_port]
    allow_loopback()
    client.post(reverse("mail-account-add"), fields(dovecot, mail_user, keep_policy="keep"))
    account = RemoteAccount.objects.get()
    imported(account)
    edit = reverse("mail-account-edit", args=[account.pk])
    assert "stay on the server, untouched" in client.get(edit).content.decode()

    response = client.post(edit, fields(dovecot, mail_user, password="", keep_policy="delete"))

    assert response.status_code == 302
    assert NOTICE in said(response)
