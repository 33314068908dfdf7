"""Importing the settings creates nothing; starting Django creates the private folders."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(code: str, data_dir: Path):
    env = {**os.environ, "POPADMIN_DATA_DIR": str(data_dir), "POPADMIN_NO_BOOTSTRAP": "1",
           "SECRET_KEY": "x", "DJANGO_SETTINGS_MODULE": "popadmin.settings"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=120)


def test_it_creates_no_folder_when_settings_are_imported(tmp_path):
    data = tmp_path / "data"

    run("import popadmin.settings", data)

    assert not data.exists()


def test_it_creates_the_private_folders_when_django_starts(tmp_path):
    data = tmp_path / "data"

    run("import django; django.setup()", data)

    for path in (data, data / "spool", data / "broker" / "queue"):
        assert path.is_dir() and path.stat().st_mode & 0o777 == 0o700, path
    assert (data / "popadmin.sqlite3").stat().st_mode & 0o777 == 0o600
