"""A full spool disk (SPOOL_DIR on a real tmpfs) is a full local store like a
full MAIL_ROOT: the run is an error of the account that says so, never an
"internal error", the message is not counted as refused by the server, and
nothing is deleted at the source."""

import pytest

from retrieval import engine
from retrieval.models import GlobalSettings, RefusedMessage, RemoteAccount, Run
from tests.factories import make_account
from tests.full_disk import fill, small_disk

pytestmark = pytest.mark.django_db

BIG = 400 * 1024  # over the spool's in-memory part (retrieval/spool.py): written to disk


@pytest.fixture(autouse=True)
def quick_retries():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        connection_retries=1, retry_seconds=0, timeout_seconds=5)


@pytest.fixture
def full_spool(tmp_path, settings):
    with small_disk(tmp_path / "spool") as spool:
        settings.SPOOL_DIR = spool
        fill(spool)
        yield spool


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_a_full_spool_fails_the_account_in_plain_words(protocol, full_spool, dovecot,
                                                       mail_user):
    body = b"\n".join([b"x" * 76] * (BIG // 77))
    dovecot.deliver(mail_user[0], b"Subject: big\nMessage-ID: <big@test>\n\n" + body + b"\n")
    account = make_account(dovecot, *mail_user, protocol=protocol)

    for _ in range(4):  # more runs than a refused message's attempts
        run = engine.run_account(account.pk, Run.Trigger.MANUAL)
        assert run.status == Run.Status.ERROR
        assert run.error.startswith("local disk full: cannot write to the spool"), run.error
        assert "internal error" not in run.error
        assert run.error.endswith("; mail left on the server")

    assert len(dovecot.messages(mail_user[0])) == 1
    assert not RefusedMessage.objects.filter(account=account).exists()
    account.refresh_from_db()
    assert account.last_error_kind == RemoteAccount.ErrorKind.STORAGE_FULL
