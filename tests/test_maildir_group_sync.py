"""Maildir directories are fsync'd once per group, before the group is recorded
(delivery/backends/maildir.py flush; retrieval/group_commit.py)."""

import errno

import pytest

from delivery import maildir as files
from retrieval import engine
from retrieval.models import Run, SeenMessage
from tests.factories import local_messages, make_account

pytestmark = pytest.mark.django_db


def test_the_inbox_directory_is_synced_once_per_group_not_per_copy(dovecot, mail_user,
                                                                  monkeypatch):
    dovecot.deliver_many(mail_user[0], 30)
    account = make_account(dovecot, *mail_user)
    synced = []
    real = files._fsync_dir
    monkeypatch.setattr(files, "_fsync_dir", lambda path: (synced.append(path), real(path)))

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.deleted) == (30, 30), run.error
    assert 1 <= len(synced) < 5
    assert all(path.name == "new" for path in synced)


def test_a_failed_directory_sync_records_nothing_and_deletes_nothing(dovecot, mail_user,
                                                                    monkeypatch):
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user)

    def broken(path):
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(files, "_fsync_dir", broken)
        first = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert first.status == Run.Status.ERROR
    assert "cannot make" in first.error and "Input/output error" in first.error
    assert SeenMessage.objects.filter(account=account).count() == 0
    assert first.deliveries.count() == 0
    assert len(dovecot.messages(mail_user[0])) == 3  # nothing deleted at the source

    again = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert again.status == Run.Status.OK, again.error
    assert (again.delivered + again.duplicates, again.deleted) == (3, 3)
    assert len(local_messages(account.owner)) == 3  # the copies on disk were recognised
