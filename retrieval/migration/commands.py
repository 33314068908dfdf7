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


def add_confirm_argument(parser):
    parser.add_argument(
        "--confirm-rewrites", action="store_true",
        help="Rewrite accounts their users set up, or that would connect another way (another "
        "protocol or port): without it such an import writes nothing. --dry-run lists them.",
    )
