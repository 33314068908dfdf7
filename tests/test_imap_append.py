"""The IMAP APPEND backend against a second real Dovecot: dates, flags, UIDs,
folders created when missing, and no second copy of a message already there."""

import io
from datetime import datetime

import pytest

from delivery.backends import Recipient, trace_headers
from delivery.targets import backend_for
from tests.append_helpers import INTERNALDATE, fetch, imap_target

TOKEN = "fedcba9876543210" * 2
SOURCE = "imap.old-isp.test (imap, account 7)"


def message(mid="<append-1@old-isp.test>", date="Date: Tue, 03 Mar 2015 10:20:30 +0100\n"):
    return (f"From: ann@old-isp.test\nSubject: old mail\nMessage-ID: {mid}\n{date}\n"
            "body\n").encode()


@pytest.fixture
def dest(append_dovecot):
    user, password = append_dovecot.add_user()
    return append_dovecot, user, password


def internal_date(response: bytes) -> datetime:
    # Dovecot's Maildir keeps the instant (file mtime), not the zone it was given in.
    return datetime.strptime(INTERNALDATE.search(response).group(1).decode().strip(),
                             "%d-%b-%Y %H:%M:%S %z")


def deliver(backend, data, folder="", token=TOKEN):
    return backend.deliver(
        io.BytesIO(data), len(data), "", [Recipient("owner@local.test")],
        lambda address: trace_headers(SOURCE, address), folder=folder, token=token,
    )


def test_it_keeps_the_date_as_internal_date_and_arrives_unseen(dest):
    server, user, password = dest
    backend = backend_for(imap_target(server, user, password, save=False))

    [outcome] = deliver(backend, message())
    backend.close()

    assert outcome.status == "delivered", outcome.detail
    [response] = fetch(server, user, password)
    assert internal_date(response) == datetime.fromisoformat("2015-03-03T10:20:30+01:00")
    assert b"\\Seen" not in response
    # UIDPLUS: the server said where it put it, and the Delivery row keeps that.
    validity, uid = outcome.remote_id.split("/")
    assert validity.isdigit() and uid == "1"


def test_without_a_date_the_newest_received_line_gives_the_internal_date(dest):
    server, user, password = dest
    backend = backend_for(imap_target(server, user, password, save=False))
    received = ("Received: from a by b; Fri, 05 Jun 2009 08:00:00 -0400\n"
                "Received: from c by a; Thu, 04 Jun 2009 07:00:00 -0400\n")

    [outcome] = deliver(backend, message(date=received))
    backend.close()

    assert outcome.status == "delivered", outcome.detail
    [response] = fetch(server, user, password)
    assert internal_date(response) == datetime.fromisoformat("2009-06-05T08:00:00-04:00")


def test_a_missing_folder_is_created_with_the_servers_separator(dest):
    server, user, password = dest
    backend = backend_for(imap_target(server, user, password, save=False))

    [outcome] = deliver(backend, message(), folder="Old ISP/2015")
    backend.close()

    assert outcome.status == "delivered", outcome.detail
    # Dovecot's Maildir++ separator is "."; "/" in our folder names is a level.
    [stored] = server.messages(user, "Old ISP/2015")
    assert stored.endswith(message())
    assert b"X-Popadmin-Token: " + TOKEN.encode() in stored
    assert fetch(server, user, password, folder="Old ISP.2015")


def test_the_same_message_is_not_appended_twice(dest):
    server, user, password = dest
    backend = backend_for(imap_target(server, user, password, save=False))
    recipient = Recipient("owner@local.test")
    assert not backend.already_delivered(recipient, "Archive", TOKEN)

    [first] = deliver(backend, message(), folder="Archive")
    assert backend.already_delivered(recipient, "Archive", TOKEN)
    [again] = deliver(backend, message(), folder="Archive")  # e.g. after a crash
    backend.close()

    assert first.status == again.status == "delivered"
    assert "already in Archive" in again.detail
    assert len(server.messages(user, "Archive")) == 1
    assert not backend.already_delivered(recipient, "INBOX", TOKEN)  # another folder


def test_a_message_without_message_id_is_found_by_its_token(dest):
    server, user, password = dest
    backend = backend_for(imap_target(server, user, password, save=False))
    data = b"Subject: no id\n\nbody\n"

    deliver(backend, data)
    [again] = deliver(backend, data)
    backend.close()

    assert "already in INBOX" in again.detail
    assert len(server.messages(user)) == 1


def test_a_foreign_copy_with_the_same_message_id_is_not_taken_for_ours(dest):
    # A forged or reused Message-ID must not make the source copy be deleted.
    server, user, password = dest
    server.deliver(user, message())
    backend = backend_for(imap_target(server, user, password, save=False))

    [outcome] = deliver(backend, message())
    backend.close()

    assert outcome.status == "delivered" and "appended" in outcome.detail
    assert len(server.messages(user)) == 2


def test_tls_verified_against_the_servers_ca(dest, settings):
    server, user, password = dest
    settings.POPADMIN_CA_FILE = str(server.ca_file)
    backend = backend_for(imap_target(server, user, password, security="tls", save=False))

    [outcome] = deliver(backend, message())
    backend.close()

    assert outcome.status == "delivered", outcome.detail


def test_a_wrong_password_is_temporary_and_never_echoed(dest):
    server, user, _password = dest
    secret = "wrong pass\"word"
    backend = backend_for(imap_target(server, user, secret, save=False))

    [outcome] = deliver(backend, message())

    assert outcome.status == "temporary"
    assert "login" in outcome.detail and secret not in outcome.detail
    assert server.messages(user) == []
