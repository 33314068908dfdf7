"""What `manage.py up` and `manage.py --version` leave on disk: gunicorn's control
socket sits in the data folder, not in the home directory, and asking for the
version generates no secret keys and creates no data folder."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.test_access_log_secrets import free_port, web_command_of_up

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db


def test_gunicorns_control_socket_is_in_the_data_folder(monkeypatch, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    command = web_command_of_up(monkeypatch, f"127.0.0.1:{free_port()}")
    socket_path = settings.DATA_DIR / "gunicorn.ctl"
    assert command[command.index("--control-socket") + 1] == str(socket_path)

    web = subprocess.Popen(command, env={**os.environ, "HOME": str(home)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            assert time.monotonic() < deadline and web.poll() is None, "no control socket"
            time.sleep(0.2)
    finally:
        web.terminate()
        web.wait(timeout=30)
    assert not (home / ".gunicorn").exists()


def test_a_long_data_folder_turns_the_control_socket_off(settings, monkeypatch, tmp_path):
    settings.DATA_DIR = tmp_path / ("x" * 120)
    command = web_command_of_up(monkeypatch, "127.0.0.1:8000")
    assert "--no-control-socket" in command and "--control-socket" not in command


# manage.py as run from a shell, its virtualenv check left out: the test runs inside
# the virtualenv already and must not install into it.
MANAGE = """
import sys
import manage
load = manage._load_bootstrap
def without_install():
    bootstrap = load()
    bootstrap.ensure_virtualenv = lambda argv: None
    return bootstrap
manage._load_bootstrap = without_install
sys.argv = ["manage.py", sys.argv[1]]
manage.main()
"""


@pytest.mark.parametrize("asking", ["--version", "version"])
def test_asking_for_the_version_writes_nothing(tmp_path, asking):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items()
           if k not in ("SECRET_KEY", "POPADMIN_ENCRYPTION_KEY", "POPADMIN_NO_BOOTSTRAP")}
    env["POPADMIN_DATA_DIR"] = str(data)
    done = subprocess.run([sys.executable, "-c", MANAGE, asking], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()[0].isdigit(), done.stdout
    assert "generated secret keys" not in done.stdout
    assert not data.exists()


def test_any_other_command_still_sets_up_the_first_run(tmp_path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items()
           if k not in ("SECRET_KEY", "POPADMIN_ENCRYPTION_KEY", "POPADMIN_NO_BOOTSTRAP")}
    env["POPADMIN_DATA_DIR"] = str(data)
    done = subprocess.run([sys.executable, "-c", MANAGE, "check"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert (data / "popadmin.env").exists()
