"""Create the project's virtualenv on first use and re-exec inside it.

Standard library only: this runs under whatever python3 the newcomer has, which
may be older than the 3.12 Django 6 needs, so it looks for a newer one.
"""

import base64
import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("POPADMIN_VENV", ROOT / ".venv"))
VENV_PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".popadmin-installed"


def _version_ok(python):
    try:
        out = subprocess.run(
            [python, "-c", "import sys, venv; print(sys.version_info >= (3, 12))"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "True"


def find_python():
    candidates = [sys.executable]
    for name in ("python3.14", "python3.13", "python3.12", "python3"):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    # pyenv keeps interpreters that are installed but not on PATH.
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.1[2-9]*/bin/python3"), reverse=True)
    candidates += ["/usr/bin/python3.13", "/usr/bin/python3.12"]
    for python in candidates:
        if python and os.path.exists(python) and _version_ok(python):
            return python
    sys.exit("popadmin needs Python 3.12 or newer (Django 6); none was found on this machine.")


# Asking for the version needs no settings: it generates no keys and creates no data folder.
# (Help on the project's commands reads the settings, so it keeps the first-run setup.)
VERSION_ONLY = ({"--version"}, {"version"})


def only_asks(argv) -> bool:
    return set(argv[1:]) in VERSION_ONLY


def ensure_env_file():
    """First run on the embedded default: generate and keep the secret keys.

    Skipped when SECRET_KEY comes from the environment (production) or the
    file already exists; settings.py reads the file, the environment wins.
    """
    if os.environ.get("SECRET_KEY"):
        return
    data_dir = Path(os.environ.get("POPADMIN_DATA_DIR", ROOT / "var"))
    env_file = data_dir / "popadmin.env"
    if env_file.exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = base64.urlsafe_b64encode(os.urandom(48)).decode()
    fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
            "# Generated on first run. Back it up: without POPADMIN_ENCRYPTION_KEY the\n"
            "# stored remote passwords cannot be decrypted.\n"
            f"SECRET_KEY={secret}\nPOPADMIN_ENCRYPTION_KEY={fernet_key}\n"
        )
    print(f"popadmin: generated secret keys in {env_file}", flush=True)


def _requirements_digest():
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def _wanted_extras():
    """Optional dependency groups to install: none for `up`; `.ci/run` asks for "dev"."""
    raw = os.environ.get("POPADMIN_EXTRAS", "")
    return sorted({name.strip() for name in raw.split(",") if name.strip()})


def ensure_virtualenv(argv):
    extras = _wanted_extras()
    if Path(sys.prefix).resolve() == VENV.resolve() and _installed(extras):
        return
    if not VENV_PYTHON.exists():
        python = find_python()
        print(f"popadmin: creating virtualenv {VENV} with {python}", flush=True)
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    if not _installed(extras):
        # Keep what an earlier install added (a test run's extras stay for the next one).
        extras = sorted(set(extras) | set(_stamp()[1]))
        target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
        print(f"popadmin: installing {target}", flush=True)
        pip = [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, target], check=True)
        STAMP.write_text(" ".join([_requirements_digest(), *extras]))
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *argv])  # noqa: S606 - fixed argv, no shell


def _stamp():
    """(digest of pyproject.toml, extras) of the last install, or ("", [])."""
    if not STAMP.exists():
        return "", []
    digest, *extras = STAMP.read_text().split() or [""]
    return digest, extras


def _installed(extras):
    digest, installed = _stamp()
    return digest == _requirements_digest() and set(extras) <= set(installed)
