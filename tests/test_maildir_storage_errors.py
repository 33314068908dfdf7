"""Which Maildir write failures refuse every message (the local storage: full,
read-only, MAIL_ROOT not writable) and which are one mailbox's own, as the
Maildir backend reports them; real file systems and a real unprivileged user."""

import io
import json
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from delivery.backends import MaildirBackend, MaildirSettings, Recipient, trace_headers
from tests.full_disk import fill, read_only, small_disk

MESSAGE = b"Subject: hi\n\nbody\n"


def store(root, address="a@x.test"):
    backend = MaildirBackend(MaildirSettings(root))
    [outcome] = backend.deliver(io.BytesIO(MESSAGE), len(MESSAGE), "", [Recipient(address)],
                                lambda a: trace_headers("pop.test", a))
    backend.close()
    return outcome


def store_as_nobody(root, address="a@x.test"):
    """The outcome of a delivery made by an unprivileged user (root may write anywhere)."""
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        try:
            os.close(read)
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            outcome = store(root, address)
            answer = [outcome.status, outcome.detail, outcome.storage_full]
        except BaseException as exc:
            answer = ["raised", repr(exc), None]
        finally:
            os.write(write, json.dumps(answer).encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(child, 0)
    return json.loads(answer)


@pytest.fixture
def public_tmp():
    """A folder an unprivileged user can reach (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="popadmin-storage-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_a_full_disk_refuses_every_message(tmp_path):
    with small_disk(tmp_path / "mail") as root:
        fill(root)
        outcome = store(root)
    assert (outcome.status, outcome.storage_full) == ("temporary", True)
    assert outcome.detail.startswith("local disk full: cannot write to mailbox ")
    assert outcome.detail.endswith(": No space left on device")


def test_a_read_only_disk_refuses_every_message(tmp_path):
    with small_disk(tmp_path / "mail") as root:
        store(root)  # the mailbox exists
        read_only(root)
        outcome = store(root)
    assert outcome.storage_full and outcome.detail.startswith("local disk read-only: ")


def test_a_mail_root_the_service_may_not_write_refuses_every_message(public_tmp):
    root = public_tmp / "mail"
    root.mkdir(mode=0o755)

    status, detail, storage_full = store_as_nobody(root)

    assert (status, storage_full) == ("temporary", True)
    assert detail.startswith("local mail root not writable: "), detail


def test_one_mailbox_the_service_may_not_write_is_that_mailbox_alone(public_tmp):
    root = public_tmp / "mail"
    (root / "x.test" / "a").mkdir(parents=True)
    root.chmod(0o777)
    (root / "x.test").chmod(0o777)
    (root / "x.test" / "a").chmod(0o755)  # root's: nobody may not write in it

    status, detail, storage_full = store_as_nobody(root)

    assert (status, storage_full) == ("temporary", False)
    assert detail.startswith("cannot write to mailbox "), detail
    assert store_as_nobody(root, "b@x.test")[0] == "delivered"  # the others are fine
