"""Tiny scripted POP3 and IMAP servers on 127.0.0.1, for faults a real server won't produce.

FakeServer runs a handler per connection in a thread; Pop3Mailbox and
ImapMailbox are the usual handlers: small but honest servers whose
mailboxes survive across connections (so QUIT or EXPUNGE really remove
messages) and whose commands can be overridden one by one to misbehave.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import re
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

    def read_exact(self, n: int) -> bytes | None:
        """n raw bytes (an IMAP literal), also recorded in server.received; None at EOF."""
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        data, self.buf = self.buf[:n], self.buf[n:]
        self.server.received.append(data)
        return data

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

    def cmd_STAT(self, conn, arg, state):
        live = self.live(state)
        conn.sendline(b"+OK %d %d" % (len(live), sum(len(self.messages[n - 1]) for n in live)))

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


IMAP_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|\{(\d+)\}$|(\([^)]*\))|([^ ]+)')


class ImapMailbox:
    """An IMAP4rev1 server over folders {name: [message or (message, flags)]}.

    Messages are sent as given (use CRLF). `noise` (untagged responses) goes
    out before every tagged answer and between FETCH responses; overrides
    maps a verb such as "UID FETCH" to fn(conn, tag, args, state).
    """

    def __init__(
        self,
        folders: dict | None = None,
        users: dict[str, str] | None = None,
        greeting: bytes = b"* OK fake IMAP ready",
        capabilities: tuple[str, ...] = ("IMAP4rev1", "AUTH=PLAIN", "SASL-IR", "UIDPLUS"),
        stls_context: ssl.SSLContext | None = None,
        overrides: dict | None = None,
        noise: bytes = b"",
        uidvalidity: int = 7,
    ):
        self.folders = {}
        for name, messages in (folders if folders is not None else {"INBOX": []}).items():
            self.folders[name] = [
                {"uid": n, "data": m, "flags": set()}
                if isinstance(m, bytes)
                else {"uid": n, "data": m[0], "flags": set(m[1])}
                for n, m in enumerate(messages, 1)
            ]
        self.users = users if users is not None else {"alice": "secret"}
        self.greeting = greeting
        self.capabilities = capabilities
        self.stls_context = stls_context
        self.overrides = overrides or {}
        self.noise = noise
        self.uidvalidity = uidvalidity

    def __call__(self, conn: Conn) -> None:
        conn.sendline(self.greeting)
        state = {"selected": None}
        while (command := self.read_command(conn)) is not None:
            tag, verb, args = command
            handler = self.overrides.get(verb) or getattr(
                self, "cmd_" + verb.replace(" ", "_"), None
            )
            if handler is None:
                conn.sendline(tag + b" BAD unknown command")
            elif handler(conn, tag, args, state) == "hangup":
                return

    def read_command(self, conn: Conn):
        """(tag, verb, args) with quoted strings and literals decoded; None at EOF."""
        tokens = []
        while (line := conn.readline()) is not None:
            literal = None
            for m in IMAP_TOKEN.finditer(line):
                if m.group(1) is not None:
                    tokens.append(re.sub(rb"\\(.)", rb"\1", m.group(1)))
                elif m.group(2) is not None:
                    literal = int(m.group(2))
                else:
                    tokens.append(m.group(3) or m.group(4))
            if literal is None:
                tokens += [b"", b""]
                verb, args = tokens[1].upper().decode(), tokens[2:-2]
                if verb == "UID" and args:
                    verb, args = "UID " + args[0].upper().decode(), args[1:]
                return tokens[0], verb, args
            conn.sendline(b"+ go ahead")
            if (data := conn.read_exact(literal)) is None:
                return None
            tokens.append(data)
        return None

    def ok(self, conn, tag, text=b"done"):
        conn.send(self.noise)
        conn.sendline(tag + b" OK " + text)

    def matching(self, state, uid_set: bytes) -> list[tuple[int, dict]]:
        messages = self.folders[state["selected"]]
        top = max((m["uid"] for m in messages), default=0)
        wanted = set()
        for part in uid_set.split(b","):
            first, _, last = part.partition(b":")
            bounds = [top if x == b"*" else int(x) for x in (first, last or first)]
            wanted.update(range(min(bounds), max(bounds) + 1))
        return [(seq, m) for seq, m in enumerate(messages, 1) if m["uid"] in wanted]

    def expunge(self, conn, state, uids=None, silent=False):
        messages = self.folders[state["selected"]]
        for seq in range(len(messages), 0, -1):
            m = messages[seq - 1]
            if "\\Deleted" in m["flags"] and (uids is None or m["uid"] in uids):
                del messages[seq - 1]
                if not silent:
                    conn.sendline(b"* %d EXPUNGE" % seq)

    def cmd_CAPABILITY(self, conn, tag, args, state):
        extra = ("STARTTLS",) if self.stls_context and not conn.tls else ()
        conn.sendline("* CAPABILITY " + " ".join(self.capabilities + extra))
        self.ok(conn, tag)

    def cmd_NOOP(self, conn, tag, args, state):
        self.ok(conn, tag)

    def cmd_STARTTLS(self, conn, tag, args, state):
        conn.sendline(tag + b" OK begin TLS")
        conn.starttls(self.stls_context)

    def cmd_LOGIN(self, conn, tag, args, state):
        user, password = (a.decode("utf-8") for a in args)
        self.login(conn, tag, self.users.get(user) == password)

    def cmd_AUTHENTICATE(self, conn, tag, args, state):
        if len(args) > 1:
            token = args[1]
        else:
            conn.sendline(b"+ ")
            token = conn.readline()
        if token == b"*":
            return conn.sendline(tag + b" BAD cancelled")
        _, user, password = base64.b64decode(token).decode("utf-8").split("\0")
        self.login(conn, tag, self.users.get(user) == password)

    def login(self, conn, tag, ok: bool):
        conn.sendline(tag + (b" OK logged in" if ok else b" NO [AUTHENTICATIONFAILED] no"))

    def cmd_STATUS(self, conn, tag, args, state):
        name = args[0].decode()
        name = "INBOX" if name.upper() == "INBOX" else name
        if name not in self.folders:
            return conn.sendline(tag + b" NO no such folder")
        messages = self.folders[name]
        uidnext = max((m["uid"] for m in messages), default=0) + 1
        conn.sendline(b"* STATUS %s (UIDNEXT %d UIDVALIDITY %d MESSAGES %d)"
                      % (args[0], uidnext, self.uidvalidity, len(messages)))
        self.ok(conn, tag)

    def cmd_SELECT(self, conn, tag, args, state):
        name = args[0].decode()
        name = "INBOX" if name.upper() == "INBOX" else name
        state["selected"] = None
        if name not in self.folders:
            return conn.sendline(tag + b" NO [NONEXISTENT] Mailbox doesn't exist")
        state["selected"] = name
        conn.sendline(b"* FLAGS (\\Seen \\Deleted)\r\n* %d EXISTS" % len(self.folders[name]))
        conn.sendline(b"* 0 RECENT\r\n* OK [UIDVALIDITY %d] UIDs valid" % self.uidvalidity)
        self.ok(conn, tag, b"[READ-WRITE] selected")

    def cmd_LIST(self, conn, tag, args, state):
        if args[1].decode() in self.folders:
            conn.sendline(b'* LIST () "/" "' + args[1] + b'"')
        self.ok(conn, tag)

    def cmd_UID_FETCH(self, conn, tag, args, state):
        for seq, m in self.matching(state, args[0]):
            if b"BODY" in args[1].upper():
                head = b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (seq, m["uid"], len(m["data"]))
                conn.send(head + m["data"] + b")\r\n")
            else:
                conn.sendline(
                    b"* %d FETCH (UID %d RFC822.SIZE %d)" % (seq, m["uid"], len(m["data"]))
                )
            conn.send(self.noise)
        self.ok(conn, tag)

    def cmd_UID_STORE(self, conn, tag, args, state):
        for _, m in self.matching(state, args[0]):
            if args[1].startswith(b"+"):
                m["flags"].add("\\Deleted")
            else:
                m["flags"].discard("\\Deleted")
        self.ok(conn, tag)

    def cmd_UID_EXPUNGE(self, conn, tag, args, state):
        if "UIDPLUS" not in self.capabilities:
            return conn.sendline(tag + b" BAD unknown command")
        self.expunge(conn, state, {m["uid"] for _, m in self.matching(state, args[0])})
        self.ok(conn, tag)

    def cmd_UID_SEARCH(self, conn, tag, args, state):
        found = [m["uid"] for m in self.folders[state["selected"]] if "\\Deleted" in m["flags"]]
        conn.sendline(b"* SEARCH" + b"".join(b" %d" % uid for uid in found))
        self.ok(conn, tag)

    def cmd_EXPUNGE(self, conn, tag, args, state):
        self.expunge(conn, state)
        self.ok(conn, tag)

    def cmd_CLOSE(self, conn, tag, args, state):
        self.expunge(conn, state, silent=True)
        state["selected"] = None
        self.ok(conn, tag)

    def cmd_LOGOUT(self, conn, tag, args, state):
        conn.sendline(b"* BYE logging out")
        self.ok(conn, tag)
        return "hangup"


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
