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

import datetime
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
import threading
import time
import uuid
from email.utils import formatdate
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

INSTALL_HINT = "apt-get install dovecot-pop3d dovecot-imapd dovecot-lmtpd"
# Usernames become file and directory names (passwd file, maildir), so keep
# them to characters that cannot escape those directories.
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._+@-]*")

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


class DovecotError(RuntimeError):
    pass


class Dovecot:
    host = "127.0.0.1"

    def __init__(self):
        self.root: Path | None = None
        self.ca_file: Path | None = None
        self.conf: Path | None = None
        self.pop3_port = self.pop3s_port = self.imap_port = None
        self.imaps_port = self.lmtp_port = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen | None = None
        self._users = itertools.count(1)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self.uid = self.gid = None
        self._dovecot_bin = self._doveadm_bin = None

    def __repr__(self):
        return f"<Dovecot {self.root} pop3={self.pop3_port} imap={self.imap_port}>"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 10.0) -> "Dovecot":
        began = time.monotonic()
        self._check_environment()
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-test-"))
        # mkdtemp makes 0700; Dovecot's unprivileged auth and login processes
        # must traverse it, or logins fail slowly with a temporary failure.
        self.root.chmod(0o755)
        for sub in ("run", "state", "tls", "users"):
            (self.root / sub).mkdir(mode=0o755)
        (self.root / "mail").mkdir(mode=0o755)
        os.chown(self.root / "mail", self.uid, self.gid)
        self._write_tls()
        try:
            # A port found free can be taken before Dovecot binds it; retry.
            for attempt in range(3):
                self._write_config()
                try:
                    self._launch(timeout)
                    break
                except DovecotError as e:
                    if attempt == 2 or "in use" not in str(e):
                        raise
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self):
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                # doveadm waits until the master's pid is gone, and a zombie
                # we have not reaped still counts (3 s lost), so reap the
                # master while doveadm runs.
                doveadm = subprocess.Popen(
                    [self._doveadm_bin, "-c", str(self.conf), "stop"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
                try:
                    doveadm.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    doveadm.kill()
                    doveadm.wait()
            # The master ran in its own session (start_new_session), so its
            # process group holds exactly the children it may have left.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _check_environment(self):
        missing = [
            path
            for path in ("/usr/lib/dovecot/pop3", "/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp")
            if not os.path.exists(path)
        ]
        self._dovecot_bin, self._doveadm_bin = _which("dovecot"), _which("doveadm")
        if not self._dovecot_bin or not self._doveadm_bin or missing:
            raise DovecotError(
                f"Dovecot is not installed (missing: {missing or 'dovecot/doveadm'}); "
                f"run: {INSTALL_HINT}"
            )
        if os.geteuid() != 0:
            raise DovecotError("the Dovecot fixture must run as root (it switches to uid mail)")
        try:
            mail = pwd.getpwnam("mail")
        except KeyError:
            raise DovecotError("no `mail` user on this machine; Dovecot needs a non-root mail uid")
        self.uid, self.gid = mail.pw_uid, mail.pw_gid

    def _write_config(self):
        ports = _free_ports(5)
        (self.pop3_port, self.pop3s_port, self.imap_port, self.imaps_port, self.lmtp_port) = ports
        self.conf = self.root / "dovecot.conf"
        self.conf.write_text(
            CONFIG.format(
                root=self.root,
                host=self.host,
                uid=self.uid,
                gid=self.gid,
                pop3_port=self.pop3_port,
                pop3s_port=self.pop3s_port,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                lmtp_port=self.lmtp_port,
            )
        )
        self.conf.chmod(0o644)

    def _launch(self, timeout: float):
        stderr_path = self.root / "dovecot.stderr"
        with open(stderr_path, "wb") as stderr:
            # -F keeps the master as our child, so stop() can wait for it and
            # clean up its process group without hunting for a pid file.
            self._proc = subprocess.Popen(
                [self._dovecot_bin, "-F", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        pending = [self.pop3_port, self.pop3s_port, self.imap_port, self.imaps_port, self.lmtp_port]
        while pending:
            if self._proc.poll() is not None:
                self._proc = None
                raise DovecotError(f"dovecot exited at startup:\n{self.log_text()}")
            try:
                socket.create_connection((self.host, pending[0]), timeout=0.5).close()
                pending.pop(0)
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise DovecotError(f"dovecot did not listen on {pending}:\n{self.log_text()}")
                time.sleep(0.01)

    def _write_tls(self):
        tls = self.root / "tls"
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "popadmin test CA")])
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(ca_ski, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(self.host))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self.ca_file = tls / "ca.pem"
        self.ca_file.write_bytes(ca_cert.public_bytes(pem))
        # The chain lets clients that only trust ca.pem verify the leaf.
        (tls / "server.pem").write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
        (tls / "server.key").write_bytes(
            key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        # Throwaway key for a loopback test server; world-readable so any
        # Dovecot process that re-reads it can.
        for path in tls.iterdir():
            path.chmod(0o644)

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
            raise ValueError("passwd-file passwords cannot hold ':' or newlines, or edge spaces")
        path = self.root / "users" / name
        with self._lock:
            # "x" mode: re-adding a user would make Dovecot serve the old
            # password from the file it already has open.
            with open(path, "x") as f:
                f.write(f"{name}:{{PLAIN}}{password}::::::\n")
        path.chmod(0o644)
        return name, password

    def maildir(self, username: str, folder: str = "INBOX") -> Path:
        base = self.root / "mail" / username.lower()
        if folder.upper() == "INBOX":
            return base
        return base / ("." + folder.replace("/", "."))

    def deliver(self, username: str, message: bytes, folder: str = "INBOX") -> Path:
        """Drop a message straight into the maildir's new/, as a local MDA would."""
        target = self._ensure_maildir(username, folder)
        name = f"{time.time():.6f}.P{os.getpid()}Q{next(self._seq)}.popadmin-test"
        tmp = target / "tmp" / name
        tmp.write_bytes(message.replace(b"\r\n", b"\n"))
        os.chown(tmp, self.uid, self.gid)
        final = target / "new" / name
        # rename so Dovecot never sees a half-written message in new/
        os.rename(tmp, final)
        return final

    def deliver_many(
        self, username: str, n: int, size: int = 2048, folder: str = "INBOX"
    ) -> list[Path]:
        paths = []
        for i in range(n):
            token = uuid.uuid4().hex
            head = (
                f"From: sender@example.test\n"
                f"To: {username}@example.test\n"
                f"Subject: test message {i + 1} of {n}\n"
                f"Message-ID: <{token}@popadmin.test>\n"
                f"Date: {formatdate()}\n\n"
            ).encode()
            line = f"{token} {i + 1}\n".encode()
            body = (line * (max(size - len(head), len(line)) // len(line) + 1))[
                : max(size - len(head), len(line))
            ]
            paths.append(self.deliver(username, head + body, folder))
        return paths

    def messages(self, username: str, folder: str = "INBOX") -> list[bytes]:
        """Messages now in the maildir (new/ and cur/), oldest name first."""
        base = self.maildir(username, folder)
        # Dovecot may move a file from new/ to cur/ between listing and
        # reading; list again when that happens.
        for _ in range(20):
            files = []
            for sub in ("new", "cur"):
                d = base / sub
                if d.is_dir():
                    files.extend(p for p in d.iterdir() if not p.name.startswith("."))
            files.sort(key=lambda p: p.name.split(":", 1)[0])
            try:
                return [p.read_bytes() for p in files]
            except FileNotFoundError:
                time.sleep(0.01)
        raise DovecotError(f"maildir {base} kept changing while being read")

    def _ensure_maildir(self, username: str, folder: str) -> Path:
        base = self.maildir(username)
        target = self.maildir(username, folder)
        dirs = [base, target] + [d / sub for d in {base, target} for sub in ("tmp", "new", "cur")]
        for d in dirs:
            if not d.is_dir():
                d.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chown(d, self.uid, self.gid)
        if target != base and not (target / "maildirfolder").exists():
            (target / "maildirfolder").touch()
            os.chown(target / "maildirfolder", self.uid, self.gid)
        return target

    # -- diagnostics -------------------------------------------------------

    def log_text(self) -> str:
        if self.root is None:
            return ""
        parts = []
        for name in ("dovecot.stderr", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)


def _which(cmd: str) -> str | None:
    # Debian puts dovecot in /usr/sbin, which is not on every PATH.
    return shutil.which(cmd) or shutil.which(cmd, path="/usr/sbin:/usr/bin:/sbin:/bin")


def _free_ports(n: int) -> list[int]:
    # Holding all sockets open at once keeps the kernel from handing out the
    # same port twice.
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((Dovecot.host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


