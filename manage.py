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
        from popadmin.bootstrap import ensure_env_file, ensure_virtualenv

        ensure_virtualenv(sys.argv)
        ensure_env_file()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "popadmin.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
