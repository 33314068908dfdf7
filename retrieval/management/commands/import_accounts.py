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
        parser.add_argument(
            "--confirm-rewrites",
            action="store_true",
            help="Rewrite accounts their users set up, or that would connect another way "
            "(another protocol or port): without it such an import writes nothing.",
        )

    def handle(self, *args, file, dry_run, confirm_rewrites, **options):
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
            counts, rows = transfer.import_with_report(data, dry_run, confirm_rewrites)
        except transfer.TransferError as e:
            listing = "\n".join(f"  {error}" for error in e.errors)
            raise CommandError(f"nothing imported, {len(e.errors)} error(s):\n{listing}")
        prefix = "dry run, nothing written: " if dry_run else ""
        self.stdout.write(prefix + transfer.summary(counts))
        for row in rows:
            for line in row.lines():
                self.stdout.write(line)
