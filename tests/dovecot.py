"""A throwaway Dovecot 2.3 (POP3, IMAP, LMTP) on loopback ports, for tests.

Usage::

    server = Dovecot().start()
    user, password = server.add_user()
    server.deliver(user, b"Subject: hi\\n\\nbody\\n")
    ...  # poplib.POP3_SSL(server.host, server.pop3s_port, context=...)
    server.stop()

Needs root (Dovecot's master must start as root to switch to the mail uid)
and Debian's dovecot-pop3d, dovecot-imapd and dovecot-lmtpd packages.
"""

import contextlib
import datetime as dt
import ipaddress
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from email.utils import formatdate
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU
from cryptography.x509.oid import NameOID

INSTALL_HINT = "apt-get install dovecot-pop3d dovecot-imapd dovecot-lmtpd"
# Usernames become file and directory names (passwd file, maildir), so keep
# them to characters that cannot escape those directories. Dovecot itself
# lowercases logins and refuses characters outside auth_username_chars.
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]*")

# Why each non-obvious line is here:
# - auth_failure_delay = 0 and the anvil-auth-penalty listener with mode 0:
#   a failed login otherwise answers after 2 s, and repeated failures from
#   127.0.0.1 grow that penalty to 15 s for every later login. 2.3.19 still
#   answers failures on a 500 ms timer tick, so a failed login costs <= 0.5 s.
# - passdb args with %u: one passwd file per user. Dovecot stats a passwd
#   file at most once per second (db-passwd-file.c), so a user appended to a
#   shared file was "unknown" to 9 of 15 logins made right after the append;
#   a file Dovecot has never opened is always read fresh.
# - first_valid_uid = 8: the mail uid is Debian's `mail` (8); uid 0 is
#   refused ("userdb returned 0 as uid") and the default floor is 500.
# - mail_max_userip_connections: the default of 10 per user and IP is low
#   for tests that open connections in parallel.
# - mail_fsync = never: nothing here has to survive a crash.
# - mailbox_idle_check_interval = 1 secs: IDLE learns of new mail through
#   inotify, and the kernel allows 128 instances per user; on a machine busy
#   with other Dovecots and browsers they run out, and an IDLE then looks only
#   every 30 s, so a push test's message could wait longer than its session.
CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
listen = {host}
protocols = pop3 imap lmtp
ssl = yes
ssl_cert = <{root}/tls/server.pem
ssl_key = <{root}/tls/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{root}/mail/%u
mail_fsync = never
mail_max_userip_connections = 1000
mailbox_idle_check_interval = 1 secs
pop3_uidl_format = %08Xu%08Xv
postmaster_address = postmaster@localhost
passdb {{
  driver = passwd-file
  args = {root}/users/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = {pop3s_port}
    ssl = yes
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    port = {lmtp_port}
  }}
}}
"""


# Dovecot(oauth2_introspection_url=...): every login is an OAuth2 bearer
# token that Dovecot checks at that URL (RFC 7662 introspection, POSTed as
# token=...), so the real server verifies the real token.
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  args = {root}/dovecot-oauth2.conf.ext
}}
"""
OAUTH2_CONFIG = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
"""


class DovecotError(RuntimeError):
    pass


@contextlib.contextmanager
def serving(server):
    """A started `server` for a fixture, stopped after. A server that cannot
    start fails the test, never skips it: a missing server must not pass as a
    green run."""
    import pytest  # here, not at the top: the benches import this module without pytest

    try:
        server.start()
    except DovecotError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


class Dovecot:
    host = "127.0.0.1"
    PORTS = ("pop3_port", "pop3s_port", "imap_port", "imaps_port", "lmtp_port")
    pop3_port = pop3s_port = imap_port = imaps_port = lmtp_port = None
    root: Path | None = None
    conf: Path | None = None
    ca_file: Path | None = None
    uid = gid = startup_seconds = None

    def __init__(self, oauth2_introspection_url: str | None = None, extra_config: str = ""):
        self.oauth2_introspection_url = oauth2_introspection_url
        # Appended to the configuration (a bench raising limits, a test's login processes).
        self.extra_config = extra_config
        self._proc: subprocess.Popen | None = None
        self._bin: dict[str, str] = {}
        self._users = itertools.count(1)
        self._seq = itertools.count(1)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 10.0) -> "Dovecot":
        began = time.monotonic()
        self._check_environment()
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-test-"))
        try:
            # mkdtemp makes 0700; Dovecot's unprivileged auth and login
            # processes must traverse it, or logins fail slowly with
            # "Temporary authentication failure".
            self.root.chmod(0o755)
            for sub in ("run", "state", "tls", "users", "mail"):
                (self.root / sub).mkdir(mode=0o755)
            os.chown(self.root / "mail", self.uid, self.gid)
            self.ca_file = write_tls(self.root / "tls", self.host)
            # A port found free can be taken before Dovecot binds it: retry.
            for attempt in range(3):
                self._write_config()
                try:
                    self._launch(timeout)
                    break
                except DovecotError as e:
                    self._stop_processes()
                    if attempt == 2 or "in use" not in str(e):
                        raise
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self):
        self._stop_processes()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _stop_processes(self):
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # A throwaway server keeps nothing, so it is killed, not shut down: a
        # graceful stop waits on the master's children (seconds per stop once
        # a long run has opened thousands of logins). It was started in a new
        # session, so its process group is exactly this instance's processes.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def _check_environment(self):
        # Debian puts dovecot in /usr/sbin, which is not on every PATH.
        for name in ("dovecot", "doveadm"):
            self._bin[name] = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        missing = [name for name, path in self._bin.items() if not path]
        missing += [
            p for p in ("pop3", "imap", "lmtp") if not os.path.exists(f"/usr/lib/dovecot/{p}")
        ]
        if missing:
            raise DovecotError(
                f"Dovecot is not installed (missing {', '.join(missing)}); run: {INSTALL_HINT}"
            )
        if os.geteuid() != 0:
            raise DovecotError("the Dovecot fixture must run as root (it switches to uid mail)")
        try:
            mail = pwd.getpwnam("mail")
        except KeyError:
            raise DovecotError("no `mail` user here; Dovecot needs a non-root mail uid")
        self.uid, self.gid = mail.pw_uid, mail.pw_gid

    def _write_config(self):
        for attr, port in zip(self.PORTS, _free_ports(len(self.PORTS)), strict=True):
            setattr(self, attr, port)
        self.conf = self.root / "dovecot.conf"
        ports = {attr: getattr(self, attr) for attr in self.PORTS}
        config = CONFIG.format(root=self.root, host=self.host, uid=self.uid, gid=self.gid, **ports)
        if self.oauth2_introspection_url:
            passwd_file = f"passdb {{\n  driver = passwd-file\n  args = {self.root}/users/%u\n}}\n"
            config = config.replace(passwd_file, OAUTH2_PASSDB.format(root=self.root))
            config = config.replace(
                "auth_mechanisms = plain login", "auth_mechanisms = xoauth2 oauthbearer"
            )
            ext = self.root / "dovecot-oauth2.conf.ext"
            ext.write_text(OAUTH2_CONFIG.format(url=self.oauth2_introspection_url))
            ext.chmod(0o644)
        self.conf.write_text(config + self.extra_config)
        self.conf.chmod(0o644)

    def _launch(self, timeout: float):
        with open(self.root / "dovecot.stderr", "wb") as stderr:
            # -F keeps the master our child, so stop() can reap it and clean
            # up its process group without trusting a pid file.
            self._proc = subprocess.Popen(
                [self._bin["dovecot"], "-F", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        pending = [getattr(self, attr) for attr in self.PORTS]
        while pending:
            if self._proc.poll() is not None:
                raise DovecotError(f"dovecot exited at startup:\n{self.log_text()}")
            try:
                socket.create_connection((self.host, pending[0]), timeout=1).close()
                pending.pop(0)
            except OSError:
                if time.monotonic() > deadline:
                    raise DovecotError(f"dovecot not listening on {pending}:\n{self.log_text()}")
                time.sleep(0.01)

    # -- users and mail ----------------------------------------------------

    def add_user(self, name: str | None = None, password: str | None = None):
        """Create a login that works at once; returns (username, password)."""
        if name is None:
            name = f"u{next(self._users)}-{secrets.token_hex(3)}"
        if password is None:
            # Awkward on purpose: catches clients that do not quote for IMAP
            # or that split POP3 PASS on spaces.
            password = f"p{secrets.token_hex(4)} q\"'\\{secrets.token_hex(2)}"
        if not USERNAME_RE.fullmatch(name):
            raise ValueError(f"username {name!r} must match {USERNAME_RE.pattern}")
        if ":" in password or "\n" in password or password != password.strip():
            raise ValueError("a passwd-file password cannot hold ':', newlines or edge spaces")
        path = self.root / "users" / name
        # "x": never replace a user; Dovecot keeps serving a passwd file it
        # has read until a later second, so a new password would be flaky.
        with open(path, "x") as f:
            f.write(f"{name}:{{PLAIN}}{password}::::::\n")
        path.chmod(0o644)
        return name, password

    def kick(self, username: str) -> None:
        """Close every IMAP/POP3 session of the user, as an administrator's `doveadm kick` does."""
        subprocess.run([self._bin["doveadm"], "-c", str(self.conf), "kick", username],
                       check=True, capture_output=True, timeout=10)

    def maildir(self, username: str, folder: str = "INBOX") -> Path:
        """Maildir++: INBOX is the root, folder "A/B" is ".A.B/"."""
        base = self.root / "mail" / username
        if folder.upper() == "INBOX":
            return base
        return base / ("." + folder.replace("/", "."))

    def deliver(self, username: str, message: bytes, folder: str = "INBOX") -> Path:
        """Drop a message (stored with LF endings) into the folder's new/."""
        target = self._ensure_maildir(username, folder)
        # Leading timestamp: Dovecot assigns UIDs to new files in name order.
        name = f"{time.time():.6f}.P{os.getpid()}Q{next(self._seq)}.popadmin-test"
        tmp = target / "tmp" / name
        tmp.write_bytes(message.replace(b"\r\n", b"\n"))
        os.chown(tmp, self.uid, self.gid)
        final = target / "new" / name
        # via tmp/ so Dovecot never reads a half-written message
        os.rename(tmp, final)
        return final

    def deliver_many(
        self, username: str, n: int, size: int = 2048, folder: str = "INBOX"
    ) -> list[Path]:
        """n distinct messages of about `size` bytes, each with its own Message-ID."""
        paths = []
        for i in range(1, n + 1):
            token = uuid.uuid4().hex
            head = (
                f"From: sender@example.test\nTo: {username}@example.test\n"
                f"Subject: test message {i} of {n}\nMessage-ID: <{token}@popadmin.test>\n"
                f"Date: {formatdate()}\n\n"
            ).encode()
            line = f"{token} {i}\n".encode()
            room = max(size - len(head), len(line))
            body = (line * (room // len(line) + 1))[:room]
            paths.append(self.deliver(username, head + body, folder))
        return paths

    def messages(self, username: str, folder: str = "INBOX") -> list[bytes]:
        """The folder's messages on disk (new/ and cur/), in name order."""
        base = self.maildir(username, folder)
        # Dovecot may move a file from new/ to cur/ between listing and
        # reading it; list again when that happens.
        for _ in range(50):
            files = [
                p
                for sub in ("new", "cur")
                if (base / sub).is_dir()
                for p in (base / sub).iterdir()
                if not p.name.startswith(".")
            ]
            files.sort(key=lambda p: p.name.split(":", 1)[0])
            try:
                return [p.read_bytes() for p in files]
            except FileNotFoundError:
                time.sleep(0.01)
        raise DovecotError(f"maildir {base} kept changing while being read")

    def _ensure_maildir(self, username: str, folder: str) -> Path:
        base, target = self.maildir(username), self.maildir(username, folder)
        for d in [base, target] + [d / s for d in (base, target) for s in ("tmp", "new", "cur")]:
            if not d.is_dir():
                d.mkdir(mode=0o700)
                os.chown(d, self.uid, self.gid)
        if target != base and not (target / "maildirfolder").exists():
            (target / "maildirfolder").touch()
            os.chown(target / "maildirfolder", self.uid, self.gid)
        return target

    def log_text(self) -> str:
        """Dovecot's log (plus anything it printed before logging started)."""
        if self.root is None:
            return ""
        paths = [self.root / "dovecot.stderr", self.root / "dovecot.log"]
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())


def write_tls(folder: Path, host: str) -> Path:
    """A throwaway CA and a server certificate for localhost and `host`; returns ca.pem."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "popadmin test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())

    def issue(subject, public_key, ca: bool, *extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            # digital_signature; key_cert_sign and crl_sign for the CA only
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, ca, ca, False, False), True
            )
        )
        for ext in extensions:
            builder = builder.add_extension(ext, False)
        return builder.sign(ca_key, hashes.SHA256())

    ca_cert = issue(ca_name, ca_key.public_key(), True)
    # Key identifiers and key usage: Python 3.13's default context adds
    # VERIFY_X509_STRICT, which rejects certificates without them.
    cert = issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
        key.public_key(),
        False,
        x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host))]
        ),
        x509.ExtendedKeyUsage([EKU.SERVER_AUTH]),
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (folder / "server.pem").write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    raw_key = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "server.key").write_bytes(raw_key)
    # A throwaway key for a loopback server: readable by every Dovecot process.
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder / "ca.pem"


def _free_ports(n: int) -> list[int]:
    # Holding all the sockets open at once keeps the kernel from handing out
    # one port twice.
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind((Dovecot.host, 0))
        return [s.getsockname()[1] for s in socks]
