"""The fetchmailrc grammar (fetchmail's rcfile_y.y) over rclexer's tokens.

parse() returns every user of every `poll`/`skip` entry as one flat dict of
options, with the `defaults` entry's options under the entry's own, the way
fetchmail merges them. A file that breaks the grammar raises RcSyntaxError
with the line and column of the first token that does not fit.
"""

from dataclasses import dataclass, field

from .rclexer import RcSyntaxError, tokenize

# Server options and how many arguments each takes: "S" string, "N" number,
# "L" one or more strings, "P" a protocol, "A" an auth type.
SERVER_OPTIONS = {
    "AKA": "L", "VIA": "S", "LOCALDOMAINS": "L", "PROTOCOL": "P", "PRINCIPAL": "S",
    "ESMTPNAME": "S", "ESMTPPASSWORD": "S", "UIDL": "", "CHECKALIAS": "", "SERVICE": "SN",
    "PORT": "N", "INTERVAL": "N", "AUTHENTICATE": "A", "TIMEOUT": "N", "ENVELOPE": "E",
    "QVIRTUAL": "S", "INTERFACE": "S", "MONITOR": "S", "PLUGIN": "S", "PLUGOUT": "S",
    "DNS": "", "TRACEPOLLS": "", "BADHEADER": "B",
}
NEGATABLE_SERVER = {"UIDL", "CHECKALIAS", "DNS", "ENVELOPE", "TRACEPOLLS"}
USER_OPTIONS = {
    "PASSWORD": "S", "FOLDER": "L", "SMTPHOST": "L", "FETCHDOMAINS": "L", "SMTPADDRESS": "S",
    "SMTPNAME": "S", "SPAMRESPONSE": "NL", "MDA": "S", "BSMTP": "S", "LMTP": "",
    "PRECONNECT": "S", "POSTCONNECT": "S", "KEEP": "", "FLUSH": "", "LIMITFLUSH": "",
    "FETCHALL": "", "REWRITE": "", "FORCECR": "", "STRIPCR": "", "PASS8BITS": "",
    "DROPSTATUS": "", "DROPDELIVERED": "", "MIMEDECODE": "", "IDLE": "", "SSL": "",
    "SSLKEY": "S", "SSLCERT": "S", "SSLPROTO": "S", "SSLCERTCK": "", "SSLCERTFILE": "S",
    "SSLCERTPATH": "S", "SSLCOMMONNAME": "S", "SSLFINGERPRINT": "S", "LIMIT": "N",
    "WARNINGS": "N", "FETCHLIMIT": "N", "FETCHSIZELIMIT": "N", "FASTUIDL": "N",
    "BATCHLIMIT": "N", "EXPUNGE": "N", "PROPERTIES": "S",
}
NEGATABLE_USER = {
    "KEEP", "FLUSH", "LIMITFLUSH", "FETCHALL", "REWRITE", "FORCECR", "STRIPCR", "PASS8BITS",
    "DROPSTATUS", "DROPDELIVERED", "MIMEDECODE", "IDLE", "SSL", "SSLCERTCK",
}
SET_OPTIONS = {"LOGFILE": "S", "IDFILE": "S", "PIDFILE": "S", "DAEMON": "N",
               "POSTMASTER": "S", "PROPERTIES": "S"}
SET_FLAGS = {"BOUNCEMAIL", "SPAMBOUNCE", "SOFTBOUNCE", "SYSLOG", "INVISIBLE", "SHOWDOTS"}


@dataclass
class RcUser:
    """One user of one entry: what fetchmail would poll, with every option merged."""

    poll_name: str
    line: int  # of the `user` keyword, or of the entry when it names no user
    skip: bool
    options: dict = field(default_factory=dict)  # option name (lower case) -> value
    lines: dict = field(default_factory=dict)  # option name -> its line


@dataclass
class RcFile:
    settings: dict
    users: list


class _Parser:
    def __init__(self, text):
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self, offset=0):
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self, *kinds, what=None):
        token = self.peek()
        if token.kind not in kinds:
            raise self.error(f"expected {what or ' or '.join(k.lower() for k in kinds)}", token)
        self.pos += 1
        return token

    @staticmethod
    def error(message, token):
        return RcSyntaxError(f"{message}, found {token.text!r}", token.line, token.column)

    def parse(self):
        settings, users, defaults = {}, [], None
        while self.peek().kind != "EOF":
            token = self.peek()
            if token.kind == "SET":
                self._set(settings)
            elif token.kind in ("POLL", "SKIP", "DEFAULTS"):
                entry = self._entry()
                if token.kind == "DEFAULTS":
                    defaults = entry
                else:
                    users.extend(_merge(entry, defaults))
            else:
                raise self.error("expected poll, skip, defaults or set", token)
        return RcFile(settings, users)

    def _set(self, settings):
        self.take("SET")
        negated = self.peek().kind == "NO"
        if negated:
            self.pos += 1
        token = self.peek()
        if token.kind in SET_FLAGS:
            self.pos += 1
            settings[token.kind.lower()] = not negated
        elif token.kind in SET_OPTIONS and not negated:
            self.pos += 1
            if self.peek().kind == "MAP":
                self.pos += 1
            settings[token.kind.lower()] = self._argument(SET_OPTIONS[token.kind])
        else:
            raise self.error("expected a global option after set", token)

    def _entry(self):
        head = self.take("POLL", "SKIP", "DEFAULTS")
        name = None if head.kind == "DEFAULTS" else self.take("STRING", what="a server name").value
        entry = {"name": name, "line": head.line, "skip": head.kind == "SKIP",
                 "server": ({}, {}), "users": []}
        while self._server_option(entry["server"]):
            pass
        self._users(entry)
        if self._starts_server_option():
            raise self.error("server option after user options", self.peek())
        return entry

    def _starts_server_option(self):
        kind = self.peek().kind
        if kind == "NO":
            return self.peek(1).kind in NEGATABLE_SERVER
        return kind in SERVER_OPTIONS

    def _server_option(self, target):
        if not self._starts_server_option():
            return False
        options, lines = target
        token = self.peek()
        if token.kind == "NO":
            self.pos += 1
            option = self.take(*NEGATABLE_SERVER)
            options[option.kind.lower()], lines[option.kind.lower()] = False, option.line
            return True
        self.pos += 1
        key = token.kind.lower()
        spec = SERVER_OPTIONS[token.kind]
        if spec == "P":
            proto = self.take("PROTO", "KPOP", "SDPS", what="a protocol name")
            value = proto.value if proto.kind == "PROTO" else proto.kind.lower()
        elif spec == "A":
            value = self.take("AUTHTYPE", what="an authentication type").value
        elif spec == "E":
            skip = self.take("NUMBER").value if self.peek().kind == "NUMBER" else 0
            value = (skip, self.take("STRING", what="a header name").value)
        elif spec == "B":
            value = self.take("ACCEPT", "REJECT").kind.lower()
        elif spec == "SN":
            value = self.take("STRING", "NUMBER", what="a service name or port").value
        else:
            value = self._argument(spec) if spec else True
        options[key], lines[key] = value, token.line
        return True

    def _argument(self, spec):
        if spec == "S":
            return self.take("STRING", what="a string").value
        if spec == "N":
            return self.take("NUMBER", what="a number").value
        kind = "NUMBER" if spec == "NL" else "STRING"
        values = [self.take(kind).value]
        while self.peek().kind == kind:
            values.append(self.take(kind).value)
        return values

    def _users(self, entry):
        if self.peek().kind != "USERNAME":
            # user1opts: options for the implicit user (the one running fetchmail).
            user = ({}, {}, entry["line"])
            if self._user_options(user):
                entry["users"].append(user)
            return
        while self.peek().kind == "USERNAME":
            token = self.take("USERNAME")
            user = ({}, {}, token.line)
            self._userdef(user)
            self._user_options(user)
            entry["users"].append(user)

    def _userdef(self, user):
        options, lines, line = user
        names = self._mappings()
        if self.peek().kind == "HERE":
            self.pos += 1
            self._set_local(user, names)
        elif len(names) == 1 and names[0][1] is None and names[0][0] != "*":
            if self.peek().kind == "THERE":
                self.pos += 1
            options["user"], lines["user"] = names[0][0], line
        else:
            raise self.error("expected here after the local names", self.peek())

    def _mappings(self):
        names = []
        while self.peek().kind == "STRING":
            name = self.take("STRING").value
            mapped = None
            if self.peek().kind == "MAP":
                self.pos += 1
                mapped = self.take("STRING", what="a local name").value
            names.append((name, mapped))
        if not names:
            raise self.error("expected a user name", self.peek())
        return names

    def _set_local(self, user, names):
        options, lines, line = user
        options.setdefault("localnames", [])
        for name, mapped in names:
            if name == "*" and mapped is None:
                options["wildcard"] = True
            else:
                options["localnames"].append((name, mapped))
        lines["localnames"] = lines.get("localnames", line)

    def _user_options(self, user):
        options, lines, _line = user
        found = False
        while True:
            token = self.peek()
            if token.kind in ("IS", "TO"):
                self.pos += 1
                names = self._mappings()
                if token.kind == "IS" and self.peek().kind == "THERE" and len(names) == 1:
                    self.pos += 1
                    options["user"], lines["user"] = names[0][0], token.line
                else:
                    if self.peek().kind == "HERE":
                        self.pos += 1
                    self._set_local(user, names)
                    lines["localnames"] = token.line
            elif token.kind == "NO" and self.peek(1).kind in NEGATABLE_USER:
                self.pos += 1
                option = self.take(*NEGATABLE_USER)
                options[option.kind.lower()], lines[option.kind.lower()] = False, option.line
            elif token.kind in USER_OPTIONS:
                self.pos += 1
                spec = USER_OPTIONS[token.kind]
                key = token.kind.lower()
                options[key] = self._argument(spec) if spec else True
                lines[key] = token.line
            else:
                return found
            found = True


def _merge(entry, defaults):
    """One RcUser per user of the entry, the defaults' options under its own."""
    base_options, base_lines = {}, {}
    if defaults:
        base_options.update(defaults["server"][0])
        base_lines.update(defaults["server"][1])
        for options, lines, _line in defaults["users"][:1]:
            base_options.update(options)
            base_lines.update(lines)
    base_options.update(entry["server"][0])
    base_lines.update(entry["server"][1])
    users = entry["users"] or [({}, {}, entry["line"])]
    for options, lines, line in users:
        yield RcUser(
            entry["name"], line, entry["skip"],
            {**base_options, **options}, {**base_lines, **lines},
        )


def parse(text):
    return _Parser(text).parse()
