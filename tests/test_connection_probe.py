"""Test connection (retrieval/probe.py) against the real Dovecot: reports, changes nothing."""

import pytest

from retrieval.models import SeenMessage
from retrieval.probe import probe_account as probe
from tests.factories import make_account

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_it_logs_in_and_counts_without_changing_anything(dovecot, mail_user, protocol):
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user, protocol=protocol)

    result = probe(account)

    assert result.ok, result.error
    assert result.message_count == 2 and result.total_bytes > 0
    assert result.capabilities
    assert "2 message(s)" in result.summary()
    assert len(dovecot.messages(mail_user[0])) == 2
    assert not SeenMessage.objects.filter(account=account).exists()


def test_it_reports_a_refused_login_without_the_password(dovecot, mail_user):
    account = make_account(dovecot, mail_user[0], "wrong-secret-pw")

    result = probe(account)

    assert not result.ok
    assert result.error_kind == "AuthError"
    assert "wrong-secret-pw" not in result.error


def test_it_reports_an_untrusted_certificate(dovecot, mail_user, settings):
    settings.POPADMIN_CA_FILE = None
    account = make_account(dovecot, *mail_user)

    result = probe(account)

    assert not result.ok and result.error_kind == "TLSError", result.error


def test_it_reports_a_dead_port(dovecot, mail_user):
    account = make_account(dovecot, *mail_user, port=1, security="none")

    result = probe(account, timeout=2)

    assert not result.ok and result.error_kind == "ConnectError", result.error
