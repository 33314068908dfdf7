"""POP3 PIPELINING (RFC 2449): DELEs sent in bursts where the server offers it."""

import pytest

from retrieval.protocols.pop3 import DELE_BURST
from retrieval.sessions import session_for
from tests.factories import make_account

pytestmark = pytest.mark.django_db


def test_it_deletes_many_messages_in_bursts_on_a_pipelining_server(dovecot, mail_user):
    count = DELE_BURST * 2 + 5
    dovecot.deliver_many(mail_user[0], count, size=200)
    account = make_account(dovecot, *mail_user)
    session = session_for(account, 30)
    session.connect()
    assert "PIPELINING" in session.capabilities

    session.delete_many(session.list_messages())
    session.commit()

    assert dovecot.messages(mail_user[0]) == []


def test_it_deletes_one_by_one_without_pipelining(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 3, size=200)
    account = make_account(dovecot, *mail_user)
    session = session_for(account, 30)
    session.connect()
    session.capabilities.pop("PIPELINING")
    listing = session.list_messages()

    session.delete_many(listing[:2])
    session.commit()

    assert len(dovecot.messages(mail_user[0])) == 1
