"""Set up and run everything on this machine: web, worker, beat and watcher together."""

import os
import secrets
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from popadmin.docs_links import docs_link
from retrieval.models import GlobalSettings


def web_command(python: str, bind: str) -> list[str]:
    # The access log hides the OAuth2 callback's query (its authorization code).
    return [python, "-m", "gunicorn", "popadmin.wsgi", "--bind", bind, "--workers", "2",
            "--access-logfile", "-", "--logger-class", "popadmin.access_log.AccessLogger",
            *control_socket()]


# A Unix socket's path holds at most 107 bytes.
SOCKET_PATH_MAX = 100


def control_socket() -> list[str]:
    """Gunicorn's control socket in the data folder, not in the home directory;
    none when the data folder's path is too long for a socket."""
    path = settings.DATA_DIR / "gunicorn.ctl"
    if len(str(path).encode()) > SOCKET_PATH_MAX:
        return ["--no-control-socket"]
    return ["--control-socket", str(path)]


class Command(BaseCommand):
    help = "Migrate, create the first admin login, and run web + worker + beat + watcher."

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("epilog", (
            f"Install and run: {docs_link('getting-started/install.md')}. "
            f"The first account: {docs_link('getting-started/first-account.md')}. "
            f"Production: {docs_link('operators/production.md')}. "
            f"Every setting: {docs_link('reference/settings.md')}."))
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000",
                            help="web address (host:port), e.g. 127.0.0.1:8080 for port 8080")
        parser.add_argument("--concurrency", type=int, default=4, help="worker processes")
        parser.add_argument("--setup-only", action="store_true", help="set up, then exit")

    def handle(self, *args, bind, concurrency, setup_only, **options):
        call_command("migrate", interactive=False, verbosity=0)
        GlobalSettings.load()
        self.ensure_admin(bind)
        self.stdout.write(f"popadmin: data in {settings.DATA_DIR}")
        self.stdout.write(f"  users' mail page: http://{bind}/mail/")
        self.stdout.write(f"  administration:   http://{bind}/admin/")
        if setup_only:
            return
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "popadmin"]
        commands = {
            "web": web_command(python, bind),
            "worker": [*celery, "worker", "-Q", "interactive,celery", "--loglevel", "info",
                       "--concurrency", str(concurrency)],
            "beat": [*celery, "beat", "--loglevel", "info",
                     "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
            # IMAP IDLE for the accounts with push on (docs/architecture/push.md).
            "watch": [python, str(settings.BASE_DIR / "manage.py"), "watch"],
        }
        # What web, worker and beat create without an explicit mode (the beat
        # schedule, the broker's messages) is popadmin's user's alone.
        os.umask(0o077)
        self.supervise(commands)

    def ensure_admin(self, bind):
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "", password)
        self.stdout.write(self.style.SUCCESS(
            f"Admin login (shown once, change it after logging in): "
            f"http://{bind}/admin/  user: admin  password: {password}"
        ))

    def supervise(self, commands):
        """Run them all; restart one that dies (as a service manager would).

        A Celery worker can exit on a broker hiccup; retrieval must go on.
        One that keeps dying (5 times within a minute) stops everything.
        """
        procs = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
        deaths: dict[str, list[float]] = {name: [] for name in commands}
        stopping = False
        crashed = []

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping:
                for name, proc in list(procs.items()):
                    if proc.poll() is None:
                        continue
                    now = time.monotonic()
                    deaths[name] = [t for t in deaths[name] if now - t < 60] + [now]
                    self.stderr.write(f"popadmin: {name} exited with {proc.returncode}")
                    if len(deaths[name]) >= 5:
                        crashed.append(name)
                        stopping = True
                        break
                    self.stderr.write(f"popadmin: restarting {name}")
                    procs[name] = subprocess.Popen(commands[name])
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs.values():
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if crashed:
            sys.exit(1)
