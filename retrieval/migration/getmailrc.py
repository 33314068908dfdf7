"""getmail6 rc files: one retriever, one destination and options per file.

Read the way getmail reads them (RawConfigParser; tuples are Python literals,
read here with ast.literal_eval, never eval). Choices where getmail and
popadmin differ (docs/admin/migration.md lists them):
- `delete` false (getmail's default) keeps mail; `delete_after N` keeps it N days.
- `read_all`, `max_messages_per_session` are not per account in popadmin:
  each message is taken once, and the batch size is a global setting.
- A Maildir destination under a Maildir++ subfolder (".Lists/") or a
  dovecot-lda style MDA with `-m FOLDER` gives the destination folder; other
  destinations deliver to the owner mailbox's delivery target instead.
"""

import ast
import configparser
import re

from .candidate import Candidate
from .rclexer import RcSyntaxError

RETRIEVERS = {
    "simplepop3retriever": ("pop3", "starttls", False),
    "simplepop3sslretriever": ("pop3", "tls", False),
    "brokenuidlpop3retriever": ("pop3", "starttls", False),
    "brokenuidlpop3sslretriever": ("pop3", "tls", False),
    "multidroppop3retriever": ("pop3", "starttls", True),
    "multidroppop3sslretriever": ("pop3", "tls", True),
    "simpleimapretriever": ("imap", "starttls", False),
    "simpleimapsslretriever": ("imap", "tls", False),
    "multidropimapretriever": ("imap", "starttls", True),
    "multidropimapsslretriever": ("imap", "tls", True),
}
KNOWN = {"type", "server", "port", "username", "password", "mailboxes", "envelope_recipient",
         "timeout", "getmaildir", "use_peek", "record_mailbox", "ssl_version", "ssl_ciphers",
         "password_command", "ca_certs"}
REFUSED = {
    "password_command": "password_command (a program that prints the password) is not "
                        "importable; put the password in the file for the import",
    "use_xoauth2": "use_xoauth2 (OAuth tokens) is not supported",
    "use_kerberos": "use_kerberos is not supported",
    "use_cram_md5": "use_cram_md5 is not supported",
    "certfile": "client certificates (certfile) are not supported",
    "keyfile": "client certificates (keyfile) are not supported",
    "ssl_fingerprints": "certificate pinning (ssl_fingerprints) is not supported",
}


def read(text, filename, owner_hint=None):
    """One Candidate for the file; RcSyntaxError when it is not an INI file."""
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text, source=filename)
    except configparser.MissingSectionHeaderError as e:
        raise RcSyntaxError("expected a [section] header", e.lineno, 1)
    except configparser.DuplicateOptionError as e:
        raise RcSyntaxError(f"option {e.option!r} given twice in [{e.section}]", e.lineno, 1)
    except configparser.DuplicateSectionError as e:
        raise RcSyntaxError(f"section [{e.section}] given twice", e.lineno or 1, 1)
    except configparser.ParsingError as e:
        lineno = e.errors[0][0]
        raise RcSyntaxError("not a `key = value` line", lineno, 1)
    if not parser.has_section("retriever"):
        raise RcSyntaxError("no [retriever] section", 1, 1)
    r = dict(parser.items("retriever"))
    c = Candidate(source=f"{filename}:{_line(text, 'retriever', 'type')}", host=r.get("server", ""))
    c.state_hosts = [c.host]
    kind = RETRIEVERS.get(r.get("type", "").strip().lower())
    if kind is None:
        c.refuse(f"retriever type {r.get('type', '(none)')!r} is not supported")
        kind = ("pop3", "tls", False)
    c.protocol, c.security, multidrop = kind
    c.username = r.get("username", "")
    c.password = r.get("password")
    for key, reason in REFUSED.items():
        value = r.get(key)
        flag = key.startswith("use_")
        if (flag and _true(value)) or (not flag and value and key != "password_command"):
            c.refuse(reason)
    if r.get("password_command"):
        if c.password is None:
            c.refuse(REFUSED["password_command"])
        else:
            c.note("password_command ignored: the password in the file is imported")
    if c.password is None:
        c.refuse("no password in the file")
    if not c.host or not c.username:
        c.refuse("server and username are required")
    if r.get("port"):
        c.port = _int(r["port"], c, "port", text)
    if r.get("ca_certs"):
        c.note("ca_certs not carried over: trusted CAs are the system's plus POPADMIN_CA_FILE")
    if c.protocol == "imap":
        mailboxes = _tuple(r.get("mailboxes", "('INBOX',)"), c, "mailboxes")
        if mailboxes == ("ALL",):
            c.refuse("mailboxes ALL is not supported: list the folders")
        # Only INBOX is the same as popadmin's default (no folders listed).
        c.folders = list(mailboxes) if set(mailboxes) - {"INBOX"} else []
    if multidrop:
        c.mode = "catchall"
        header = r.get("envelope_recipient", "").split(":")[0].strip()
        if header:
            c.header_fields = [header]
    for key in sorted(set(r) - KNOWN - set(REFUSED)):
        c.note(f"{key} not carried over")
    _options(parser, c, text)
    _destination(parser, c)
    if owner_hint:
        c.local_names = [owner_hint]
    return c


def _options(parser, c, text):
    o = dict(parser.items("options")) if parser.has_section("options") else {}
    c.keep = "delete" if _true(o.get("delete")) else "keep"
    if o.get("delete_after") and not _true(o.get("delete")):
        days = _int(o["delete_after"], c, "delete_after", text)
        if days:
            c.keep, c.keep_days = "keep_days", days
    if o.get("max_messages_per_session"):
        c.note("max_messages_per_session not carried over: messages per download is global")
    if o.get("read_all", "true") and _true(o.get("read_all", "true")):
        c.note("read_all: popadmin takes each message once, never again")


def _destination(parser, c):
    if not parser.has_section("destination"):
        return
    d = dict(parser.items("destination"))
    kind = d.get("type", "").strip().lower()
    if kind == "maildir":
        path = d.get("path", "").rstrip("/")
        leaf = path.rsplit("/", 1)[-1]
        if leaf.startswith(".") and len(leaf) > 1:
            c.target_folder = leaf[1:].replace(".", "/")
    elif kind == "mda_external":
        args = _tuple(d.get("arguments", "()"), c, "arguments")
        if "-m" in args[:-1]:
            c.target_folder = args[args.index("-m") + 1]
        else:
            c.note("MDA mapped to the owner mailbox's delivery target")
    else:
        c.note(f"destination {d.get('type', '?')} mapped to the owner mailbox's delivery target")


def _true(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _int(value, c, key, text):
    try:
        return int(value)
    except ValueError:
        c.refuse(f"{key} must be a number")
        return None


# A folder or argument tuple is a line or two. Much longer values only
# exhaust the literal parser (it recurses per operator and per sign).
MAX_TUPLE_CHARS = 4096


def _tuple(value, c, key):
    if len(value) > MAX_TUPLE_CHARS:
        c.refuse(f"{key} is longer than {MAX_TUPLE_CHARS} characters")
        return ()
    try:
        found = ast.literal_eval(value.strip())
    # TypeError: a set of sets; RecursionError and MemoryError: deep operators
    # that still fit the length limit on a smaller stack.
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        c.refuse(f"{key} must be a tuple of strings, like (\"INBOX\", \"Lists\")")
        return ()
    found = (found,) if isinstance(found, str) else found
    if not isinstance(found, tuple) or not all(isinstance(x, str) for x in found):
        c.refuse(f"{key} must be a tuple of strings")
        return ()
    return found


def _line(text, section, key):
    """The line of `key` in [section], or of the section header, for messages."""
    current, header_line = None, 1
    for number, raw in enumerate(text.splitlines(), 1):
        header = re.match(r"\s*\[([^\]]+)\]", raw)
        if header:
            current = header.group(1).strip()
            if current == section:
                header_line = number
        elif current == section and re.match(rf"\s*{re.escape(key)}\s*[=:]", raw):
            return number
    return header_line
