"""Copies an interrupted session left in a Maildir folder's tmp/ are removed once
untouched for 36 hours, when a session next opens that folder, and the folder's
tmp/ is looked at no more than once an hour by one process."""

import io
import os
import time
import types

import pytest

from delivery import maildir_tmp
from delivery.backends import MaildirBackend, MaildirSettings, Recipient, trace_headers
from retrieval import engine
from retrieval.models import Run
from tests.factories import local_messages, make_account

MESSAGE = b"Subject: hi\n\nbody\n"
HOURS = 3600


class Clock:
    """The module's view of time: wall clock `later` seconds ahead, and a monotonic one."""

    def __init__(self):
        self.later = 0.0
        self.ticks = time.monotonic()

    def time(self):
        return time.time() + self.later

    def monotonic(self):
        return self.ticks


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(maildir_tmp, "time", types.SimpleNamespace(
        time=clock.time, monotonic=clock.monotonic))
    monkeypatch.setattr(maildir_tmp, "_looked", {})  # no folder looked at yet
    return clock


def deliver(root, folder=""):
    backend = MaildirBackend(MaildirSettings(root))
    [outcome] = backend.deliver(io.BytesIO(MESSAGE), len(MESSAGE), "", [Recipient("a@x.test")],
                                lambda a: trace_headers("pop.test", a), folder=folder)
    backend.flush()
    backend.close()
    assert outcome.status == "delivered"


def leftover(tmp: os.PathLike, name: str):
    """A copy a killed session wrote and never linked."""
    path = tmp / name
    path.write_bytes(b"half a message")
    return path


def test_copies_untouched_for_36_hours_are_removed_when_the_folder_is_opened(tmp_path, clock):
    deliver(tmp_path, folder="Work")  # the folder exists, the session that made it is gone
    tmp = tmp_path / "x.test" / "a" / ".Work" / "tmp"
    old = leftover(tmp, "1700000000.M1P1Q1.host,S=14")
    (tmp / "a-folder").mkdir()
    clock.later = 36 * HOURS + 60
    fresh = leftover(tmp, "1800000000.M1P1Q2.host,S=14")  # being written "now"
    os.utime(fresh, (clock.time(), clock.time()))
    clock.ticks += 2 * HOURS

    deliver(tmp_path, folder="Work")

    assert sorted(p.name for p in tmp.iterdir()) == [fresh.name, "a-folder"]
    assert not old.exists()
    assert len(list((tmp.parent / "new").iterdir())) == 2  # delivered mail untouched


def test_a_copy_younger_than_36_hours_stays(tmp_path, clock):
    deliver(tmp_path)
    kept = leftover(tmp_path / "x.test" / "a" / "tmp", "kept")
    clock.later, clock.ticks = 35 * HOURS, clock.ticks + 2 * HOURS

    deliver(tmp_path)

    assert kept.exists()


def test_one_process_looks_at_a_tmp_at_most_once_an_hour(tmp_path, clock):
    deliver(tmp_path)
    tmp = tmp_path / "x.test" / "a" / "tmp"
    stale = leftover(tmp, "stale")
    clock.later = 40 * HOURS

    deliver(tmp_path)  # looked at with the first delivery, under an hour ago
    assert stale.exists()

    clock.ticks += maildir_tmp.CLEAN_EVERY + 1
    deliver(tmp_path)
    assert not stale.exists()


@pytest.mark.django_db
def test_a_session_cleans_the_inbox_it_delivers_into(dovecot, mail_user, clock):
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user)
    tmp = account.owner.maildir / "tmp"
    tmp.mkdir(parents=True)
    left = [leftover(tmp, f"killed-{n}") for n in range(3)]
    clock.later = 37 * HOURS

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK and len(local_messages(account.owner)) == 1
    assert not any(p.exists() for p in left) and list(tmp.iterdir()) == []
