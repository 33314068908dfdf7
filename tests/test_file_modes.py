"""What popadmin writes is its own user's alone: Maildir files 0600 and folders
0700 (or POPADMIN_MAILDIR_MODE), the data folder, spool and broker 0700, the
SQLite database and its journals 0600, whatever the umask says."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval import engine
from retrieval.models import Run
from tests.factories import make_account, make_mailbox

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def wide_umask():
    # The usual 022: modes must not depend on a umask that happens to be strict.
    old = os.umask(0o022)
    yield
    os.umask(old)


def delivered_tree(dovecot, mail_user, tmp_path, settings):
    settings.MAIL_ROOT = tmp_path / "mail"
    dovecot.deliver_many(mail_user[0], 1)
    owner = make_mailbox("ann@modes.test")
    account = make_account(dovecot, *mail_user, owner=owner, target_folder="Lists/Python")
    run = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert run.delivered == 1, run.notes
    folders = [settings.MAIL_ROOT, settings.MAIL_ROOT / "modes.test"]
    home = settings.MAIL_ROOT / "modes.test" / "ann"
    for maildir in (home, home / ".Lists.Python"):
        folders += [maildir, *(maildir / sub for sub in ("tmp", "new", "cur"))]
    files = [home / ".Lists.Python" / "maildirfolder",
             *(home / ".Lists.Python" / "new").iterdir()]
    assert len(files) == 2
    return folders, files


def test_a_delivery_creates_private_folders_and_files(
    dovecot, mail_user, tmp_path, settings, wide_umask
):
    folders, files = delivered_tree(dovecot, mail_user, tmp_path, settings)

    assert {str(f): oct(mode(f)) for f in folders} == {str(f): "0o700" for f in folders}
    assert {str(f): oct(mode(f)) for f in files} == {str(f): "0o600" for f in files}


def test_the_maildir_mode_is_configurable_for_a_mail_server_in_the_group(
    dovecot, mail_user, tmp_path, settings
):
    settings.POPADMIN_MAILDIR_MODE = 0o750
    old = os.umask(0o077)  # a strict umask does not narrow the configured mode either
    try:
        folders, files = delivered_tree(dovecot, mail_user, tmp_path, settings)
    finally:
        os.umask(old)

    assert {str(f): oct(mode(f)) for f in folders} == {str(f): "0o750" for f in folders}
    assert {str(f): oct(mode(f)) for f in files} == {str(f): "0o640" for f in files}


@pytest.mark.parametrize("text", ["0644", "0600", "0702", "1777", "seven", ""])
def test_a_maildir_mode_that_locks_out_the_owner_or_lets_others_write_is_refused(text):
    from popadmin.filemodes import parse_dir_mode

    with pytest.raises(ValueError, match="POPADMIN_MAILDIR_MODE"):
        parse_dir_mode(text)


PROBE = """
import json, os, stat
from django.db import connection
with connection.cursor() as cursor:  # a write, so SQLite opens its WAL files
    cursor.execute("CREATE TABLE IF NOT EXISTS probe (x int)")
    cursor.execute("INSERT INTO probe VALUES (1)")
data = settings.DATA_DIR
paths = [data, settings.SPOOL_DIR, data / "broker", data / "broker" / "queue",
         data / "broker" / "processed", data / "broker" / "control"]
name = connection.settings_dict["NAME"]
paths += [name, name + "-wal", name + "-shm"]
print(json.dumps({str(p): oct(stat.S_IMODE(os.stat(p).st_mode)) for p in paths}))
"""


def test_the_embedded_stack_keeps_its_data_folder_and_database_private(tmp_path, wide_umask):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    # No bootstrap: this interpreter is already the project's environment.
    env.update(POPADMIN_DATA_DIR=str(data), SECRET_KEY="modes", POPADMIN_NO_BOOTSTRAP="1")

    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    probe = subprocess.run([sys.executable, "manage.py", "shell", "-c", PROBE], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr

    modes = json.loads(probe.stdout.strip().splitlines()[-1])
    database = str(data / "popadmin.sqlite3")
    expected = {p: ("0o600" if p.startswith(database) else "0o700") for p in modes}
    assert modes == expected
    assert len(modes) == 9

