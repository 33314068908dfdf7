"""Hostile and broken servers, seen through the engine: the same faults for
POP3 and IMAP (tests/hostile.py plays each on both fake servers).

Every failing case goes through fail_then_heal: a readable reason, nothing
lost or delivered twice, and a healthy run afterwards delivers the rest
exactly once. Faults only one protocol can have are in test_pop3_hostile.py
and test_imap_hostile.py.
"""

import pytest

from retrieval.models import GlobalSettings
from tests.hostile import PROTOCOLS, fail_then_heal, lf, make_messages

pytestmark = pytest.mark.django_db

TEN_MB = 10 * 1024 * 1024
protocols = pytest.mark.parametrize("protocol", PROTOCOLS.values(), ids=PROTOCOLS.keys())


@pytest.fixture(autouse=True)
def short_timeouts():
    # Small enough that a stalling server costs a test seconds, not minutes.
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        timeout_seconds=2, connection_retries=1, retry_seconds=0
    )


def drip(data: bytes):
    """Send one byte per second until the client gives up or the test ends."""

    def send(conn, *_):
        for i in range(len(data)):
            conn.send(data[i : i + 1])
            if not conn.sleep(1):
                return "hangup"

    return send


# -- oversized, slow and endless input -------------------------------------------


@protocols
@pytest.mark.parametrize("where", ["greeting", "listing", "download"])
def test_it_contains_a_10_mb_line_without_crlf(protocol, where):
    originals = make_messages(3)
    box = protocol.box(originals)
    if where == "greeting":
        box.greeting = protocol.ok + b"x" * TEN_MB
    elif where == "listing":
        protocol.on_listing(box, lambda conn: conn.send(b"x" * TEN_MB))
    else:
        protocol.on_body(box, 1, lambda conn, head, data: conn.send(head + b"x" * TEN_MB))

    result = fail_then_heal(protocol, box, "server sent a line longer than 65536 bytes")

    if where == "download":
        # One bad message is left on the server; the ones behind it get through.
        assert result.local == [lf(m) for m in originals[1:]]
        assert result.remote == originals[:1]
    else:
        assert result.local == [] and result.remote == originals


@protocols
@pytest.mark.parametrize("where", ["greeting", "download"])
def test_it_gives_up_on_one_byte_per_second(protocol, where):
    originals = make_messages(2)
    box = protocol.box(originals)
    handler = None
    if where == "greeting":
        handler = drip(protocol.ok + b"slow " * 30 + b"\r\n")
    else:
        protocol.on_body(box, 1, lambda conn, head, data: drip(head + data)(conn))

    result = fail_then_heal(protocol, box, "no answer from server for 2 s", handler=handler)

    # Each answer would take a minute or more to drip; the time budget grows by only
    # 1 s per KB received, so the run gives up after about the timeout. The
    # bound is loose so a loaded machine does not fail it.
    assert result.failed.duration.total_seconds() < 30
    # A message that drips is left on the server, the next one still arrives.
    assert result.local == ([] if where == "greeting" else [lf(originals[1])])


@protocols
def test_it_cuts_off_an_endless_listing(protocol, monkeypatch):
    # The real cap is 256 MB; a lower one keeps the test fast, the code path is
    # the same. The session tests (test_pop3_client.py, test_imap_hostile.py)
    # run into the real one.
    assert protocol.session.max_listing == 256 * 1024 * 1024
    monkeypatch.setattr(protocol.session, "max_listing", 1024 * 1024)
    line = protocol.listing_line

    def endless(conn):
        while not conn.server.stopping.is_set():
            conn.send(line * 16)  # raises once the client hangs up, ending the thread

    box = protocol.box(make_messages(2))
    protocol.on_listing(box, endless)

    fail_then_heal(protocol, box, "server sent more than 1048576 bytes in one response")


# -- broken sessions -------------------------------------------------------------


@protocols
@pytest.mark.parametrize("then", ["hang up", "go silent"])
def test_it_never_delivers_a_message_cut_off_mid_download(protocol, then):
    originals = make_messages(3)
    box = protocol.box(originals)

    def half(conn, head, data):
        conn.send(head + data[: len(data) // 2])
        if then == "go silent":
            conn.sleep(60)  # ends when the test stops the server
        return "hangup"

    protocol.on_body(box, 2, half)

    result = fail_then_heal(protocol, box, *protocol.cut_words(then, 2))

    # The session goes on, on a new connection, with the message after it.
    assert result.local == [lf(originals[0]), lf(originals[2])]
    assert result.remote == [originals[1]]
    assert (result.again.fetched, result.again.delivered, result.again.deleted) == (1, 1, 1)


@protocols
@pytest.mark.parametrize("kind", ["binary", "http", "other protocol", "refusal"])
def test_it_refuses_a_garbage_greeting(protocol, kind):
    greeting, error = protocol.bad_greetings[kind]
    box = protocol.box(make_messages(2), greeting=greeting)

    result = fail_then_heal(protocol, box, error)

    message = result.failed.error
    assert message.startswith(error), message
    assert message.isprintable() and len(message) < 150, message
    # Only the healthy run logged in: the password never went to whatever answered.
    assert protocol.passwords_sent(result.server) == 1
