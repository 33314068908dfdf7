"""What the two import commands share."""

from django.core.management.base import CommandError


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return fh.read()
    except OSError as e:
        raise CommandError(f"cannot read {path}: {e.strerror}")


def report(stdout, result):
    for line in result.lines():
        stdout.write(line)
