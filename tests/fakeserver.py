"""A tiny scripted POP3 server on 127.0.0.1, for faults a real server won't produce.

FakeServer runs a handler per connection in a thread; Pop3Mailbox is the
usual handler: a small but honest POP3 server whose mailbox survives
across connections (so QUIT really removes messages) and whose commands
can be overridden one by one to misbehave.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

from retrieval.protocols.base import ConnectionParams


class Conn:
    def __init__(self, server: FakeServer, sock: socket.socket):
        self.server = server
        self.sock = sock
        self.buf = b""
        self.tls = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def sendline(self, line: bytes | str) -> None:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def readline(self) -> bytes | None:
        """One command without CRLF, recorded in server.received; None at EOF."""
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.rstrip(b"\r")
        self.server.received.append(line)
        return line

    def starttls(self, context: ssl.SSLContext) -> None:
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.tls = True

    def sleep(self, seconds: float) -> bool:
        """False once the server is stopping, so dripping handlers end promptly."""
        return not self.server.stopping.wait(seconds)


class FakeServer:
    def __init__(self, handler, tls_context: ssl.SSLContext | None = None):
        self.handler = handler
        self.tls_context = tls_context  # implicit TLS (POP3S) when set
        self.received: list[bytes] = []
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self._socks: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self._listener.close()
        for sock in self._socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def params(self, **overrides) -> ConnectionParams:
        values = dict(
            host="127.0.0.1",
            port=self.port,
            security="none",
            username="alice",
            password="secret",
            timeout=5.0,
        )
        values.update(overrides)
        return ConnectionParams(**values)

    def commands(self) -> list[bytes]:
        return [line.split(b" ")[0].upper() for line in self.received]

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        conn = Conn(self, sock)
        try:
            if self.tls_context:
                conn.starttls(self.tls_context)
            self.handler(conn)
        except Exception as exc:  # the client hanging up early is often the point
            self.errors.append(exc)
        finally:
            conn.sock.close()


def stuff(message: bytes) -> bytes:
    """A message as RETR sends it: each line keeps its own ending, dot-stuffed."""
    lines = message.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\r\n"
    return b"".join(b"." + line if line.startswith(b".") else line for line in lines) + b".\r\n"


class Pop3Mailbox:
    def __init__(
        self,
        messages: list[bytes],
        uidls: list[str | bytes] | None = None,
        users: dict[str, str] | None = None,
        greeting: bytes = b"+OK fake POP3 ready",
        capa: tuple[str, ...] = ("USER", "UIDL", "TOP"),
        stls_context: ssl.SSLContext | None = None,
        overrides: dict | None = None,
    ):
        self.messages = list(messages)
        self.uidls = None if uidls is None else list(uidls)
        self.users = users if users is not None else {"alice": "secret"}
        self.greeting = greeting
        self.capa = capa
        self.stls_context = stls_context
        self.overrides = overrides or {}
        self.sessions = 0

    def __call__(self, conn: Conn) -> None:
        self.sessions += 1
        conn.sendline(self.greeting)
        state = {"user": None, "authed": False, "deleted": set()}
        while (line := conn.readline()) is not None:
            verb, _, arg = line.partition(b" ")
            verb = verb.decode("latin-1").upper()
            if verb in self.overrides:
                if self.overrides[verb](conn, arg, state) == "hangup":
                    return
                continue
            if getattr(self, "cmd_" + verb, None) is None:
                conn.sendline(b"-ERR unknown command")
            elif self.dispatch(conn, verb, arg, state) == "quit":
                return

    def dispatch(self, conn, verb, arg, state):
        return getattr(self, "cmd_" + verb)(conn, arg, state)

    def live(self, state) -> list[int]:
        return [n for n in range(1, len(self.messages) + 1) if n not in state["deleted"]]

    def cmd_CAPA(self, conn, arg, state):
        extra = ("STLS",) if self.stls_context and not conn.tls else ()
        conn.send(b"".join(c.encode() + b"\r\n" for c in ("+OK", *self.capa, *extra, ".")))

    def cmd_STLS(self, conn, arg, state):
        conn.sendline("+OK begin TLS")
        conn.starttls(self.stls_context)

    def cmd_USER(self, conn, arg, state):
        state["user"] = arg.decode("utf-8", "replace")
        conn.sendline("+OK")

    def cmd_PASS(self, conn, arg, state):
        self.login(conn, state, self.users.get(state["user"]) == arg.decode("utf-8", "replace"))

    def cmd_APOP(self, conn, arg, state):
        user, _, digest = arg.decode().partition(" ")
        stamp = self.greeting[self.greeting.find(b"<") :]
        password = self.users.get(user, "")
        expected = hashlib.md5(stamp + password.encode()).hexdigest()
        self.login(conn, state, user in self.users and digest == expected)

    def cmd_AUTH(self, conn, arg, state):
        conn.sendline("+ ")
        _, user, password = base64.b64decode(conn.readline()).decode("utf-8").split("\0")
        self.login(conn, state, self.users.get(user) == password)

    def login(self, conn, state, ok: bool):
        state["authed"] = ok
        conn.sendline("+OK logged in" if ok else "-ERR [AUTH] invalid user or password")

    def cmd_LIST(self, conn, arg, state):
        body = b"".join(b"%d %d\r\n" % (n, len(self.messages[n - 1])) for n in self.live(state))
        conn.send(b"+OK\r\n" + body + b".\r\n")

    def cmd_UIDL(self, conn, arg, state):
        if self.uidls is None:
            return conn.sendline("-ERR UIDL not supported")
        uid = [u.encode() if isinstance(u, str) else u for u in self.uidls]
        body = b"".join(b"%d %s\r\n" % (n, uid[n - 1]) for n in self.live(state))
        conn.send(b"+OK\r\n" + body + b".\r\n")

    def cmd_TOP(self, conn, arg, state):
        message = self.messages[int(arg.split()[0]) - 1]
        conn.send(b"+OK\r\n" + stuff(message.split(b"\n\n")[0].split(b"\r\n\r\n")[0]))

    def cmd_RETR(self, conn, arg, state):
        conn.send(b"+OK\r\n" + stuff(self.messages[int(arg) - 1]))

    def cmd_DELE(self, conn, arg, state):
        state["deleted"].add(int(arg))
        conn.sendline("+OK marked")

    def cmd_QUIT(self, conn, arg, state):
        self.messages = [m for n, m in enumerate(self.messages, 1) if n not in state["deleted"]]
        if self.uidls is not None:
            self.uidls = [u for n, u in enumerate(self.uidls, 1) if n not in state["deleted"]]
        conn.sendline("+OK bye")
        return "quit"


def self_signed_cert(
    folder: Path, name: str = "localhost", ip: str | None = "127.0.0.1"
) -> tuple[str, str]:
    """A certificate for `name` (and `ip`); returns (cert_path, key_path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name)] + ([x509.IPAddress(ipaddress.ip_address(ip))] if ip else [])
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def server_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
