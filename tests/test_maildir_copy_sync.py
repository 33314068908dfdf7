"""Sync "file" (the default) fsyncs every copy's own data before any copy of
the group is linked into new/, a chunk at a time with writeback started for
the whole chunk first (delivery/maildir_folder.py sync_copies)."""

import errno
import io
import os

import pytest

from delivery import maildir_folder as files
from delivery.backends import MaildirBackend, MaildirSettings, Recipient, trace_headers
from delivery.maildir import DeliveryError

MESSAGE = b"Subject: hi\n\nbody\n"


def stage(backend, address):
    [outcome] = backend.deliver(io.BytesIO(MESSAGE), len(MESSAGE), "", [Recipient(address)],
                                lambda a: trace_headers("pop.example.test", a))
    assert outcome.status == "delivered"


def test_every_copy_is_fsynced_before_any_is_linked(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "SYNC_CHUNK", 3)  # 7 copies: three chunks
    backend = MaildirBackend(MaildirSettings(tmp_path, sync="file"))
    for i in range(7):
        stage(backend, f"user{i % 2}@corp.test")
    synced, linked_after = set(), []
    real_fsync, real_publish = os.fsync, files.publish

    def fsync(fd):
        synced.add(os.fstat(fd).st_ino)
        return real_fsync(fd)

    def publish(staged):
        inodes = {os.stat(copy.name, dir_fd=copy.folder.tmp_fd).st_ino for copy in staged}
        linked_after.append(inodes <= synced)
        return real_publish(staged)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files, "publish", publish)
    backend.flush()
    backend.close()

    assert linked_after == [True]
    assert sum(len(list((tmp_path / "corp.test" / u / "new").iterdir()))
               for u in ("user0", "user1")) == 7


def test_a_failed_copy_sync_links_nothing_and_poisons_the_backend(tmp_path, monkeypatch):
    backend = MaildirBackend(MaildirSettings(tmp_path, sync="file"))
    stage(backend, "ann@corp.test")
    real_fsync = os.fsync

    def broken(fd):
        if os.path.isfile(f"/proc/self/fd/{fd}"):  # a copy, not a folder
            raise OSError(errno.EIO, "Input/output error")
        return real_fsync(fd)

    with monkeypatch.context() as patch:
        patch.setattr(files.os, "fsync", broken)
        with pytest.raises(DeliveryError, match="durable: Input/output error"):
            backend.flush()
    assert list((tmp_path / "corp.test" / "ann" / "new").iterdir()) == []
    with pytest.raises(DeliveryError, match="Input/output error"):
        backend.flush()  # the kernel reports a lost write once: nothing staged is trusted
    backend.close()
