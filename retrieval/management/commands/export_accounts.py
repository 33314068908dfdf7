"""Export mailboxes, remote accounts and global settings as JSON."""

import json
import os

from django.core.management.base import BaseCommand, CommandError

from retrieval import transfer


class Command(BaseCommand):
    help = (
        "Print mailboxes, remote accounts and the global settings as JSON, in the format "
        "import_accounts reads. Login passwords are never exported; remote account "
        "passwords only with --with-secrets."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--with-secrets",
            action="store_true",
            help="Include the remote account passwords, decrypted. Keep the output safe.",
        )
        parser.add_argument(
            "--output", "-o", metavar="FILE", help="Write to FILE instead of standard output."
        )

    def handle(self, *args, with_secrets, output, **options):
        try:
            data = transfer.export_data(with_secrets=with_secrets)
        except transfer.TransferError as e:
            listing = "\n".join(f"  {error}" for error in e.errors)
            raise CommandError(f"nothing exported:\n{listing}")
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        if not output or output == "-":
            self.stdout.write(text, ending="")
            return
        try:
            # Owner-only from the first byte: the file may hold plaintext passwords.
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                if with_secrets:
                    os.fchmod(fh.fileno(), 0o600)
                fh.write(text)
        except OSError as e:
            raise CommandError(f"cannot write {output}: {e}")
        self.stdout.write(
            f"wrote {len(data['mailboxes'])} mailboxes and {len(data['accounts'])} accounts "
            f"to {output}"
        )
