"""The run's spool (retrieval/spool.py): a usual message never touches the
disk; a large one moves to SPOOL_DIR as it grows, and the next message starts
in memory again."""

from retrieval import spool as spools


def test_a_usual_message_stays_in_memory_and_a_large_one_goes_to_disk(tmp_path):
    def directory():
        return tmp_path

    spool = spools.emptied(None, directory)
    spool.write(b"x" * 8192)
    again = spools.emptied(spool, directory)
    assert again is spool and again.read() == b""  # the same spool, emptied
    assert not spool._rolled

    spool.write(b"y" * (spools.IN_MEMORY + 1))
    assert spool._rolled  # on disk now (CPython's flag): an unnamed file in SPOOL_DIR
    spool.seek(0)
    assert spool.read() == b"y" * (spools.IN_MEMORY + 1)

    fresh = spools.emptied(spool, directory)
    assert fresh is not spool and spool.closed
    assert not fresh._rolled and fresh.read() == b""


def test_the_engine_delivers_a_message_larger_than_the_memory_spool(dovecot, mail_user, db):
    from retrieval import engine
    from retrieval.models import Run
    from tests.factories import local_messages, make_account

    body = b"Subject: big\n\n" + b"z" * 70 + b"\n"
    large = body + b"line of a large message\n" * (spools.IN_MEMORY // 24 + 100)
    dovecot.deliver(mail_user[0], large)
    dovecot.deliver(mail_user[0], body)
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.status, run.delivered) == (Run.Status.OK, 2), run.error
    stored = sorted(local_messages(account.owner), key=len)
    assert stored[0].endswith(body) and stored[1].endswith(large)
