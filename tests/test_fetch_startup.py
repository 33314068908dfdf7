"""`manage.py fetch` as a process starts with what fetching mail needs.

A cold `fetch --all` pays for every module it loads before the first
session: the web site's URLs and views (loaded by Django's system checks),
the OAuth HTTP client and the API schema generator are not needed to fetch
mail with a password, and are not loaded (docs/architecture/performance.md).
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Loaded only by the web site, an OAuth sign-in or the API schema.
NOT_NEEDED = ("popadmin.urls", "requests", "authlib", "drf_spectacular.plumbing")


def imported_by_fetch(tmp_path) -> set[str]:
    env = dict(os.environ, SECRET_KEY="test", POPADMIN_DATA_DIR=str(tmp_path),
               POPADMIN_NO_BOOTSTRAP="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    done = subprocess.run([*manage, "fetch", "--all"], env=dict(env, PYTHONPROFILEIMPORTTIME="1"),
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_fetch_loads_neither_the_web_site_nor_the_oauth_client(tmp_path):
    modules = imported_by_fetch(tmp_path)

    assert "retrieval.engine" in modules  # what it does need is there
    assert not modules & set(NOT_NEEDED), sorted(modules & set(NOT_NEEDED))
