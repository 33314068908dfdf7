"""`manage.py watch`: hold IMAP IDLE connections and push new mail to the dispatcher."""

from django.core.management.base import BaseCommand

from retrieval.watch.service import run_forever


class Command(BaseCommand):
    help = ("Watch the IMAP accounts with push on (IDLE) and queue a fetch as soon as new "
            "mail arrives. Run several to share the accounts.")

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None,
                            help="this watcher's name (default: host:pid:random)")

    def handle(self, *args, name, **options):
        # Logging goes where settings.LOGGING sends it (the console, at INFO).
        run_forever(name)
