"""Import mailboxes, remote accounts and global settings from a JSON file."""

import sys

from django.core.management.base import BaseCommand, CommandError

from retrieval import transfer
from retrieval.transfer.document import load_document


class Command(BaseCommand):
    help = (
        "Create or update mailboxes, their logins, remote accounts and the global settings "
        "from a JSON file (the format export_accounts writes). All or nothing: any error "
        "and nothing is imported."
    )
    # Lets tests (and callers) hand in a stream for "-" without patching sys.stdin.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("file", help='JSON file to read, or "-" for standard input.')
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check the file and report what would change, then roll everything back.",
        )

    def handle(self, *args, file, dry_run, **options):
        try:
            if file == "-":
                text = (options.get("stdin") or sys.stdin).read()
            else:
                with open(file, encoding="utf-8") as fh:
                    text = fh.read()
        except (OSError, UnicodeDecodeError) as e:
            raise CommandError(f"cannot read {file}: {e}")
        try:
            data = load_document(text)
        except transfer.TransferError as e:
            raise CommandError(f"{file}: {e.errors[0]}")

        try:
            counts = transfer.import_data(data, dry_run=dry_run)
        except transfer.TransferError as e:
            listing = "\n".join(f"  {error}" for error in e.errors)
            raise CommandError(f"nothing imported, {len(e.errors)} error(s):\n{listing}")
        prefix = "dry run, nothing written: " if dry_run else ""
        self.stdout.write(prefix + transfer.summary(counts))
