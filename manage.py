#!/usr/bin/env python3
"""Django's command-line utility, with a first-run bootstrap.

Run with any python3: when the project's virtualenv is missing or is not the
interpreter running this file, popadmin/bootstrap.py creates it (Python 3.12+),
installs the project, and re-runs the command inside it.
"""

import os
import sys


def main():
    if os.environ.get("POPADMIN_NO_BOOTSTRAP") != "1":
        bootstrap = _load_bootstrap()
        bootstrap.ensure_virtualenv(sys.argv)
        if not bootstrap.only_asks(sys.argv):
            bootstrap.ensure_env_file()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "popadmin.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


def _load_bootstrap():
    # By path, not as popadmin.bootstrap: importing the popadmin package pulls
    # in Celery, which is not installed until the bootstrap has run.
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "popadmin" / "bootstrap.py"
    spec = importlib.util.spec_from_file_location("popadmin_bootstrap", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    main()
