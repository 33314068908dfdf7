"""Import the accounts of getmail6 rc files, and what getmail already took (oldmail-*)."""

from django.core.management.base import BaseCommand, CommandError

from retrieval.migration.commands import add_confirm_argument, read_text, report
from retrieval.migration.service import MigrationError
from retrieval.migration.sources import import_getmailrcs


class Command(BaseCommand):
    help = (
        "Create or update remote accounts from getmail6 rc files (one account each). All or "
        "nothing: a syntax error imports nothing; what popadmin cannot express is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", help="getmail rc files.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change.")
        parser.add_argument("--state", action="append", default=[],
                            help="A getmail oldmail-* file (repeat for several).")
        parser.add_argument("--owner", required=True,
                            help="Mailbox (address or login name) the accounts deliver to.")
        add_confirm_argument(parser)

    def handle(self, *args, files, dry_run, state, owner, confirm_rewrites, **options):
        rcs = [(name, read_text(name)) for name in files]
        states = [(name, read_text(name)) for name in state]
        try:
            result = import_getmailrcs(rcs, states, owner, dry_run, confirm_rewrites)
        except MigrationError as e:
            raise CommandError("\n".join(["nothing imported:", *e.errors]))
        report(self.stdout, result)
