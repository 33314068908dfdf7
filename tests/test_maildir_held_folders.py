"""A run's Maildir folders are opened once and written through held
descriptors (delivery/maildir_folder.py): none is left open after the run,
and a catch-all run over many mailboxes never holds more than a bounded set."""

import gc
import io
import os

from delivery.backends import MaildirBackend, MaildirSettings, Recipient, trace_headers
from delivery.backends import maildir as backend_module

MESSAGE = b"Subject: hi\n\nbody\n"


def open_fds() -> int:
    # Folders an earlier test's error path left to the garbage collector close
    # when it runs: before the count, not in the middle of the test counting.
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def deliver(backend, addresses, folder=""):
    return backend.deliver(io.BytesIO(MESSAGE), len(MESSAGE), "", [Recipient(a) for a in addresses],
                           lambda a: trace_headers("pop.example.test", a), folder=folder)


def test_a_run_leaves_no_descriptor_open(tmp_path):
    before = open_fds()
    backend = MaildirBackend(MaildirSettings(tmp_path))
    for folder in ("", "Work", "Work/Archive"):
        outcomes = deliver(backend, ["ann@corp.test", "bob@corp.test"], folder)
        assert {o.status for o in outcomes} == {"delivered"}
    backend.flush()
    assert open_fds() == before + 12  # three folders × two mailboxes × (tmp/, new/)
    backend.close()
    assert open_fds() == before
    assert len(list((tmp_path / "corp.test" / "ann" / ".Work.Archive" / "new").iterdir())) == 1


def test_many_mailboxes_are_let_go_of_between_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(backend_module, "MAX_OPEN_FOLDERS", 4)
    before = open_fds()
    backend = MaildirBackend(MaildirSettings(tmp_path))
    addresses = [f"user{i}@corp.test" for i in range(10)]
    outcomes = deliver(backend, addresses)
    assert open_fds() == before + 20  # the group's copies need their folders until linked
    backend.flush()
    assert open_fds() == before
    assert [o.status for o in outcomes] == ["delivered"] * 10
    for address in addresses:
        local = address.split("@")[0]
        assert len(list((tmp_path / "corp.test" / local / "new").iterdir())) == 1
    deliver(backend, addresses[:1])  # opened again, with every check
    backend.flush()
    backend.close()
    assert len(list((tmp_path / "corp.test" / "user0" / "new").iterdir())) == 2


def test_a_refused_copy_retires_the_folders_only_once_their_copies_are_linked(tmp_path):
    backend = MaildirBackend(MaildirSettings(tmp_path))
    before = open_fds()
    [ok] = deliver(backend, ["ann@corp.test"])
    [refused] = deliver(backend, ["ann@corp.test"], folder="bad\x00name")
    assert (ok.status, refused.status) == ("delivered", "permanent")
    backend.flush()  # ann's staged copy is linked through its retired folder
    assert len(list((tmp_path / "corp.test" / "ann" / "new").iterdir())) == 1
    assert open_fds() == before
