"""export_accounts --output makes a new owner-only file and never writes through what is there."""

import io
import json
import os
import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Mailbox
from retrieval.models import RemoteAccount

SECRET = "remote-Secret-77"


@pytest.fixture
def account(db):
    owner = Mailbox.objects.create(address="alice@example.com")
    account = RemoteAccount(owner=owner, host="pop.remote.test", username="alice")
    account.set_password(SECRET)
    account.save()
    return account


def export_to(path):
    out = io.StringIO()
    call_command("export_accounts", "--with-secrets", "--output", str(path), stdout=out)
    return out.getvalue()


def assert_private_export(path):
    info = os.lstat(path)
    assert stat.S_ISREG(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert json.loads(path.read_text())["accounts"][0]["password"] == SECRET


def test_it_creates_the_file_owner_only_whatever_the_umask(account, tmp_path):
    target = tmp_path / "backup.json"
    old_umask = os.umask(0)
    try:
        out = export_to(target)
    finally:
        os.umask(old_umask)

    assert "to " + str(target) in out
    assert_private_export(target)
    assert sorted(os.listdir(tmp_path)) == ["backup.json"]


def test_it_replaces_an_existing_file_instead_of_writing_into_it(account, tmp_path):
    target = tmp_path / "backup.json"
    target.write_text("old")
    target.chmod(0o644)
    # A second name for the same file, as someone else may hold.
    other_name = tmp_path / "someone-elses.json"
    os.link(target, other_name)

    export_to(target)

    assert_private_export(target)
    assert other_name.read_text() == "old"
    assert stat.S_IMODE(other_name.stat().st_mode) == 0o644
    assert not os.path.samefile(target, other_name)
    assert sorted(os.listdir(tmp_path)) == ["backup.json", "someone-elses.json"]


def test_it_replaces_a_symlink_and_leaves_its_target_alone(account, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("victim")
    victim.chmod(0o644)
    target = tmp_path / "backup.json"
    target.symlink_to(victim)

    export_to(target)

    assert not target.is_symlink()
    assert_private_export(target)
    assert victim.read_text() == "victim"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_it_does_not_create_a_file_where_a_dangling_symlink_points(account, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "backup.json"
    target.symlink_to(elsewhere / "planted.json")

    export_to(target)

    assert not target.is_symlink()
    assert_private_export(target)
    assert os.listdir(elsewhere) == []


def test_it_reports_a_directory_it_cannot_write_and_leaves_nothing(account, tmp_path):
    target = tmp_path / "backup.json"
    target.mkdir()

    with pytest.raises(CommandError, match="cannot write"):
        export_to(target)

    assert sorted(os.listdir(tmp_path)) == ["backup.json"]
    assert target.is_dir()
