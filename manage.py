#!/usr/bin/env python3
"""Django's command-line utility, with a first-run bootstrap.

Run with any python3: when the project's virtualenv is missing or is not the
interpreter running this file, popadmin/bootstrap.py creates it (Python 3.12+),
installs the project, and re-runs the command inside it.
"""

import os
import sys

# Commands run for their result, often from cron: once one has succeeded, its
# process ends at once instead of tearing the interpreter down object by object
# (about 90 ms after a fetch, a quarter of a cold `fetch --all`'s own start).
QUICK_EXIT = {"fetch"}


def main():
    if os.environ.get("POPADMIN_NO_BOOTSTRAP") != "1":
        bootstrap = _load_bootstrap()
        bootstrap.ensure_virtualenv(sys.argv)
        if not bootstrap.only_asks(sys.argv):
            bootstrap.ensure_env_file()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "popadmin.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
    if sys.argv[1:2] and sys.argv[1] in QUICK_EXIT:
        quick_exit()


def quick_exit():
    """Exit 0 now: what the command wrote is flushed, its database connections are
    closed and its log handlers shut; nothing else is left to do."""
    import logging

    from django.db import connections

    connections.close_all()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


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
