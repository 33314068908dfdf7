"""Export mailboxes, remote accounts and global settings as JSON."""

import json

from django.core.management.base import BaseCommand, CommandError

from retrieval import transfer
from retrieval.transfer.private_file import replace_privately


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
            "--output",
            "-o",
            metavar="FILE",
            help=(
                "Write to FILE instead of standard output: a new owner-only (0600) file "
                "renamed over FILE, so an existing FILE or a symlink at FILE is replaced, "
                "never written through."
            ),
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
            replace_privately(output, text)
        except OSError as e:
            raise CommandError(f"cannot write {output}: {e}")
        self.stdout.write(
            f"wrote {len(data['mailboxes'])} mailboxes and {len(data['accounts'])} accounts "
            f"to {output}"
        )
