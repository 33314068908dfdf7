"""Called by the local mail server after a POP3/IMAP login (e.g. Dovecot post-login)."""

from django.core.management.base import BaseCommand

from retrieval import triggers


class Command(BaseCommand):
    help = (
        "Report a POP3/IMAP login for a mailbox address or alias: its remote accounts are "
        "checked when the owner's group allows that login trigger. Unknown addresses are "
        "ignored silently."
    )

    def add_arguments(self, parser):
        parser.add_argument("address", help="mailbox address or alias (any case)")
        parser.add_argument("--service", required=True, choices=triggers.LOGIN_SERVICES)

    def handle(self, *args, address, service, **options):
        queued = triggers.on_mail_login(address, service)
        # Silent by default: the mail server's login script has nothing to show.
        if options["verbosity"] >= 2:
            self.stdout.write(f"{len(queued)} account(s) queued")
