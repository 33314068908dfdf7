"""Accounts imported from a fetchmailrc with its .fetchids take only the new mail."""

import poplib
import ssl

import pytest
from django.core.management import call_command

from accounts.models import Mailbox
from retrieval import engine
from retrieval.models import RemoteAccount, Run, SeenMessage
from tests.factories import local_messages

pytestmark = pytest.mark.django_db


def quoted(text):
    """A fetchmailrc string: a quote cannot appear in one, its escape can."""
    return '"' + text.replace("\\", "\\\\").replace('"', "\\x22") + '"'


def _uidls(dovecot, user, password):
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    pop = poplib.POP3_SSL(dovecot.host, dovecot.pop3s_port, context=context, timeout=10)
    try:
        pop.user(user)
        pop.pass_(password)
        return [line.split()[1].decode() for line in pop.uidl()[1]]
    finally:
        pop.quit()


def test_it_takes_only_the_mail_fetchmail_did_not(dovecot, mail_user, tmp_path):
    user, password = mail_user
    dovecot.deliver_many(user, 3)
    taken = _uidls(dovecot, user, password)  # what fetchmail took and kept
    owner = Mailbox.objects.create(address="esr@local.test")
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"poll localhost with proto pop3 port {dovecot.pop3s_port}\n"
        f'  user "{user}" there with password {quoted(password)} is esr@local.test here\n'
        "  options ssl sslcertck keep\n"
    )
    ids = tmp_path / ".fetchids"
    ids.write_text("".join(f"{user}@localhost {uid}\n" for uid in taken)
                   + "someone@elsewhere.test 0000\n")
    dovecot.deliver_many(user, 2)  # new since fetchmail's last run

    call_command("import_fetchmailrc", str(rc), "--state", str(ids))
    account = RemoteAccount.objects.get(owner=owner)
    assert set(SeenMessage.objects.filter(account=account).values_list("uid", flat=True)) == set(
        taken)
    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert (run.seen, run.fetched, run.delivered, run.deleted) == (5, 2, 2, 0)
    assert len(local_messages(owner)) == 2


def test_proto_auto_is_resolved_by_asking_the_server(dovecot, mail_user, tmp_path):
    user, password = mail_user
    Mailbox.objects.create(address="auto@local.test")
    rc = tmp_path / "rc"
    rc.write_text(f"poll localhost port {dovecot.imaps_port} user {user} "
                  f"pass {quoted(password)} ssl is auto@local.test here\n")

    call_command("import_fetchmailrc", str(rc))

    assert RemoteAccount.objects.get(username=user).protocol == "imap"
