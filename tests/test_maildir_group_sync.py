"""A group of Maildir copies is made durable together, before the group is
recorded (delivery/backends/maildir.py flush; retrieval/group_commit.py):
data on disk before any copy is visible in new/, links on disk before the
seen-state is written, and nothing recorded or deleted if a sync fails."""

import errno
import io

import pytest

from delivery import maildir_folder as files
from delivery.backends import MaildirBackend, MaildirSettings, Recipient, trace_headers
from delivery.maildir import DeliveryError
from retrieval import engine
from retrieval.models import Run, SeenMessage
from tests.factories import local_messages, make_account

MESSAGE = b"Subject: hi\n\nbody\n"


def stage(backend, address="ann@corp.test"):
    return backend.deliver(io.BytesIO(MESSAGE), len(MESSAGE), "", [Recipient(address)],
                           lambda a: trace_headers("pop.example.test", a), token="cd" * 16)


@pytest.mark.parametrize("sync", ["filesystem", "file"])
def test_a_copy_is_visible_only_once_its_group_is_durable(tmp_path, sync):
    backend = MaildirBackend(MaildirSettings(tmp_path, sync=sync))
    home = tmp_path / "corp.test" / "ann"

    [outcome] = stage(backend)

    assert outcome.status == "delivered"
    assert list((home / "new").iterdir()) == []  # staged in tmp/ only
    assert len(list((home / "tmp").iterdir())) == 1
    backend.flush()
    assert [p.read_bytes().endswith(MESSAGE) for p in (home / "new").iterdir()] == [True]
    assert list((home / "tmp").iterdir()) == []


def test_a_failed_sync_poisons_the_backend_for_the_rest_of_the_run(tmp_path, monkeypatch):
    backend = MaildirBackend(MaildirSettings(tmp_path, sync="file"))
    stage(backend)
    with monkeypatch.context() as patch:
        patch.setattr(files, "fsync_dir", broken_sync)
        with pytest.raises(DeliveryError, match="Input/output error"):
            backend.flush()
    stage(backend, "bob@corp.test")
    # The kernel reports a lost write once: a later sync that "succeeds" proves nothing.
    with pytest.raises(DeliveryError, match="Input/output error"):
        backend.flush()


@pytest.mark.django_db
def test_filesystem_sync_is_two_syncfs_per_group_and_no_fsync_per_copy(dovecot, mail_user,
                                                                        monkeypatch, settings):
    settings.POPADMIN_MAILDIR_SYNC = "filesystem"
    dovecot.deliver_many(mail_user[0], 30)
    account = make_account(dovecot, *mail_user)
    calls, fsyncs = [], []
    real_sync, real_fsync = files.sync_filesystems, files.os.fsync
    monkeypatch.setattr(files, "sync_filesystems", lambda p: (calls.append(p), real_sync(p)))
    monkeypatch.setattr(files.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.deleted) == (30, 30), run.error
    assert 2 <= len(calls) < 10 and len(calls) % 2 == 0
    assert fsyncs == []
    assert len(local_messages(account.owner)) == 30


@pytest.mark.django_db
def test_file_sync_syncs_the_inbox_directory_once_per_group(dovecot, mail_user, monkeypatch):
    # "file" is the default.
    dovecot.deliver_many(mail_user[0], 30)
    account = make_account(dovecot, *mail_user)
    synced = []
    real = files.fsync_dir
    monkeypatch.setattr(files, "fsync_dir", lambda folder: (synced.append(folder), real(folder)))

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.deleted) == (30, 30), run.error
    assert 1 <= len(synced) < 5
    assert all(folder.box.name == "new" for folder in synced)


def broken_sync(folder):
    raise OSError(errno.EIO, "Input/output error")


@pytest.mark.django_db
@pytest.mark.parametrize("sync", ["filesystem", "file"])
def test_a_failed_sync_records_nothing_and_deletes_nothing(dovecot, mail_user, monkeypatch,
                                                           settings, sync):
    settings.POPADMIN_MAILDIR_SYNC = sync
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user)

    def failing(folders):
        raise DeliveryError("cannot make mail durable: Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(files, "fsync_dir", broken_sync)
        patch.setattr(files, "sync_filesystems", failing)
        first = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert first.status == Run.Status.ERROR
    assert "durable" in first.error and "Input/output error" in first.error
    assert "internal error" not in first.error and "stays on the server" in first.error
    assert SeenMessage.objects.filter(account=account).count() == 0
    assert first.deliveries.count() == 0
    assert len(dovecot.messages(mail_user[0])) == 3  # nothing deleted at the source

    again = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert again.status == Run.Status.OK, again.error
    assert (again.delivered + again.duplicates, again.deleted) == (3, 3)
    assert len(local_messages(account.owner)) == 3


@pytest.mark.parametrize("planted", ["tmp", "new"])
def test_a_link_planted_after_the_first_copy_is_still_refused(tmp_path, planted):
    # Later copies of a run skip re-making the folder, not the checks:
    # tmp/ is checked for every copy, new/ before every link.
    root, outside = tmp_path / "mail", tmp_path / "outside"
    outside.mkdir()
    backend = MaildirBackend(MaildirSettings(root))
    stage(backend)
    backend.flush()
    box = root / "corp.test" / "ann" / planted
    for entry in box.iterdir():
        entry.unlink()
    box.rmdir()
    box.symlink_to(outside)

    [outcome] = stage(backend)
    if planted == "tmp":
        assert outcome.status == "permanent" and "outside the mailbox" in outcome.detail
    else:
        assert outcome.status == "delivered"  # staged in tmp/; the link is what is refused
        with pytest.raises(DeliveryError, match="outside the mailbox"):
            backend.flush()
    assert list(outside.iterdir()) == []
