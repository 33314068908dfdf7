"""`manage.py fetch` as a process starts with what fetching mail needs.

A cold `fetch --all` pays for every module it loads before the first
session: the web site's URLs and views (loaded by Django's system checks),
the admin's pages, Celery, the OAuth HTTP client and the API schema
generator are not needed to fetch mail with a password, and are not loaded
(docs/architecture/performance.md). A worker still gets its hooks, and the
web site its admin.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from retrieval.models import Run
from tests.factories import local_messages, make_account
from tests.workers import process_env

ROOT = Path(__file__).resolve().parent.parent
# Loaded only by the web site (its URLs, the admin's pages), an OAuth sign-in,
# the API schema, or to send a task (Celery and its messaging library).
NOT_NEEDED = ("popadmin.urls", "retrieval.admin.accounts", "requests", "authlib",
              "drf_spectacular.plumbing", "celery", "kombu")


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


def run_python(code: str, tmp_path) -> str:
    env = dict(os.environ, SECRET_KEY="test", POPADMIN_DATA_DIR=str(tmp_path),
               DJANGO_SETTINGS_MODULE="popadmin.settings")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_worker_loads_the_app_first_and_gets_its_hooks(tmp_path):
    # As `celery -A popadmin worker` does: the app, then Django (its fix-up).
    out = run_python(
        "import popadmin; app = popadmin.celery_app\n"
        "import django; django.setup()\n"
        "from celery import signals\n"
        "print(sorted(s.__name__ for s in app.steps['consumer']))\n"
        "print(len(signals.worker_ready.receivers), len(signals.task_received.receivers))\n",
        tmp_path)
    steps, receivers = out.splitlines()
    assert "ClaimsStep" in steps
    ready, received = map(int, receivers.split())
    assert ready >= 1 and received >= 1


def test_the_web_site_registers_the_admin_pages(tmp_path):
    out = run_python(
        "import django; django.setup()\n"
        "from django.contrib import admin\n"
        "print(len(admin.site._registry))\n"
        "from django.urls import reverse\n"
        "print(reverse('admin:retrieval_remoteaccount_changelist'))\n"
        "print(len(admin.site._registry))\n", tmp_path)
    before, url, after = out.splitlines()
    assert before == "0"  # django.setup() alone, as a command or a worker has it
    assert url == "/admin/retrieval/remoteaccount/" and int(after) > 5


def test_the_system_checks_judge_every_admin_registration(tmp_path):
    # A broken admin class must fail `manage.py check` whatever order the checks run in.
    out = run_python(
        "import django; django.setup()\n"
        "from django.core import checks\n"
        "from django.contrib import admin\n"
        "print(checks.run_checks(tags=[checks.Tags.admin]), len(admin.site._registry))\n"
        "from retrieval.admin.accounts import RemoteAccountAdmin\n"
        "RemoteAccountAdmin.list_display = ['no_such_field']\n"
        "print([e.id for e in checks.run_checks(tags=[checks.Tags.admin])])\n", tmp_path)
    clean, broken = out.splitlines()
    assert clean.startswith("[] ") and int(clean.split()[1]) > 5
    assert "'admin.E108'" in broken  # list_display names no field


@pytest.mark.django_db(transaction=True)
def test_a_fetch_that_ends_at_once_has_written_and_committed_everything(dovecot, tmp_path):
    # The command's process skips the interpreter's teardown (manage.py QUICK_EXIT):
    # every line it printed reaches the pipe, every run is in the database.
    accounts = []
    for n in range(3):
        user, password = dovecot.add_user(f"quick{n}-{uuid.uuid4().hex[:6]}")
        dovecot.deliver_many(user, 2)
        accounts.append(make_account(dovecot, user, password, protocol="imap"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "fetch", "--json",
         *[arg for a in accounts for arg in ("--account", str(a.pk))]],
        cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["account"], r["status"], r["delivered"]) for r in results] == [
        (a.pk, "ok", 2) for a in accounts]
    runs = Run.objects.filter(account__in=accounts)
    assert sorted(runs.values_list("status", "delivered")) == [("ok", 2)] * 3
    assert all(len(local_messages(a.owner)) == 2 for a in accounts)
