"""Container healthcheck of a worker or beat: its own heartbeat is fresh.

docker-compose runs this inside the worker's (or beat's) container; the
process there writes its heartbeat under the container's host name.
"""

import socket

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.db.models import Q

from retrieval.models import Heartbeat


class Command(BaseCommand):
    help = "Exit 0 when a worker or beat on this host has a fresh heartbeat, else 1."

    def add_arguments(self, parser):
        parser.add_argument("--role", choices=Heartbeat.Role.values, required=True)
        parser.add_argument("--hostname", default=socket.gethostname(),
                            help="host the process runs on (default: this one)")

    def handle(self, *args, role, hostname, **options):
        # A worker names itself "<name>@<host>"; beat uses the bare host name.
        here = Q(hostname=hostname) | Q(hostname__endswith=f"@{hostname}")
        try:
            alive = Heartbeat.alive().filter(here, role=role).count()
        except DatabaseError as exc:
            raise CommandError(f"database unreachable ({type(exc).__name__})")
        if not alive:
            raise CommandError(f"no {role} on {hostname} has sent a heartbeat lately")
        self.stdout.write(f"{alive} {role}(s) alive on {hostname}")
