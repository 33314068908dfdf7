"""Import the accounts of a fetchmailrc, and what fetchmail already took (.fetchids)."""

import argparse

from django.core.management.base import BaseCommand, CommandError

from retrieval.migration.commands import add_confirm_argument, read_text, report
from retrieval.migration.service import MigrationError
from retrieval.migration.sources import import_fetchmailrc


class Command(BaseCommand):
    help = (
        "Create or update remote accounts from a fetchmail run control file. All or nothing: "
        "a syntax error (with its line and column) imports nothing; entries popadmin cannot "
        "express are listed with the reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The fetchmailrc to read.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change.")
        parser.add_argument("--state", help="fetchmail's .fetchids: mail it left on the "
                            "server is not taken again.")
        parser.add_argument("--owner", help="Mailbox (address or login name) for entries "
                            "that name no local user.")
        parser.add_argument("--seen-from-server", action=argparse.BooleanOptionalAction,
                            default=True, help="IMAP accounts with keep: connect and record "
                            "the messages flagged \\Seen as already taken (fetchmail keeps "
                            "no IMAP state of its own); they are never deleted by popadmin. "
                            "On by default.")
        add_confirm_argument(parser)

    def handle(self, *args, file, dry_run, state, owner, seen_from_server, confirm_rewrites,
               **options):
        text = read_text(file)
        state_text = read_text(state) if state else None
        try:
            result = import_fetchmailrc(text, file, state_text, owner, dry_run, seen_from_server,
                                        confirm_rewrites)
        except MigrationError as e:
            raise CommandError("\n".join(["nothing imported:", *e.errors]))
        report(self.stdout, result)
