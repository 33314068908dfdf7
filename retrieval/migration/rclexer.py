"""The fetchmailrc tokenizer: fetchmail's own lexer rules (rcfile_l.l), with positions.

What the rules say, and so what this does:
- A token is a keyword only when the whole word is one (case matters, except
  the protocol names, which also come in capitals): `keeper` is a string.
- Right after `user`, `pass`, `is`, `to` and `=`, the next bare word is a
  name whatever it spells, so `user keep` names a user called "keep".
- Strings are quoted with either quote and end at the next quote of the same
  kind; backslash escapes (\\n \\t \\b \\r, \\nnn decimal, \\0ooo octal, \\xhh hex, and
  \\ before any other character) apply inside and outside quotes, and a
  backslash at the end of a line joins it to the next.
- `#` at the start of a token begins a comment; `;`, `:` and `,` and the
  noise words (and, with, has, wants, options) are ignored; `no` glued to a
  few keywords (`nokeep`) is `no` then the keyword.
"""

import re
from dataclasses import dataclass


class RcSyntaxError(Exception):
    """The file does not follow the grammar; nothing of it may be imported."""

    def __init__(self, message, line, column):
        super().__init__(f"line {line}, column {column}: {message}")
        self.line, self.column, self.reason = line, column, message


@dataclass(frozen=True)
class Token:
    kind: str  # a keyword name (upper case), STRING, NUMBER, MAP, PROTO, AUTHTYPE or EOF
    value: object
    line: int
    column: int
    text: str  # as written, for error messages

    def where(self):
        return f"line {self.line}"


# (pattern, kind, value): the whole bare word must match the pattern.
_KEYWORDS = [
    (r"set", "SET"), (r"logfile", "LOGFILE"), (r"idfile", "IDFILE"), (r"pidfile", "PIDFILE"),
    (r"daemon", "DAEMON"), (r"syslog", "SYSLOG"), (r"invisible", "INVISIBLE"),
    (r"showdots", "SHOWDOTS"), (r"postmaster", "POSTMASTER"), (r"bouncemail", "BOUNCEMAIL"),
    (r"spambounce", "SPAMBOUNCE"), (r"softbounce", "SOFTBOUNCE"), (r"warnings", "WARNINGS"),
    (r"tracepolls", "TRACEPOLLS"), (r"defaults", "DEFAULTS"), (r"server|poll", "POLL"),
    (r"skip", "SKIP"), (r"via", "VIA"), (r"aka", "AKA"), (r"local(domains)?", "LOCALDOMAINS"),
    (r"proto(col)?", "PROTOCOL"), (r"service", "SERVICE"), (r"port", "PORT"),
    (r"interval", "INTERVAL"), (r"(pre)?auth(enticate)?", "AUTHENTICATE"),
    (r"timeout", "TIMEOUT"), (r"idletimeout", "IDLETIMEOUT"), (r"envelope", "ENVELOPE"),
    (r"qvirtual", "QVIRTUAL"), (r"principal", "PRINCIPAL"), (r"esmtpname", "ESMTPNAME"),
    (r"esmtppassword", "ESMTPPASSWORD"), (r"bad-header", "BADHEADER"), (r"accept", "ACCEPT"),
    (r"reject", "REJECT"), (r"user(name)?", "USERNAME"), (r"pass(word)?", "PASSWORD"),
    (r"folders?", "FOLDER"), (r"smtp(host)?", "SMTPHOST"), (r"fetchdomains", "FETCHDOMAINS"),
    (r"smtpaddress", "SMTPADDRESS"), (r"smtpname", "SMTPNAME"), (r"antispam", "SPAMRESPONSE"),
    (r"mda", "MDA"), (r"bsmtp", "BSMTP"), (r"lmtp", "LMTP"), (r"pre(connect)?", "PRECONNECT"),
    (r"post(connect)?", "POSTCONNECT"), (r"interface", "INTERFACE"), (r"monitor", "MONITOR"),
    (r"plugin", "PLUGIN"), (r"plugout", "PLUGOUT"), (r"batchlimit", "BATCHLIMIT"),
    (r"fetchlimit", "FETCHLIMIT"), (r"fetchsizelimit", "FETCHSIZELIMIT"),
    (r"fastuidl", "FASTUIDL"), (r"expunge", "EXPUNGE"), (r"properties", "PROPERTIES"),
    (r"is", "IS"), (r"here", "HERE"), (r"there", "THERE"), (r"to", "TO"), (r"no", "NO"),
    (r"keep", "KEEP"), (r"flush", "FLUSH"), (r"limitflush", "LIMITFLUSH"),
    (r"fetchall", "FETCHALL"), (r"rewrite", "REWRITE"), (r"forcecr", "FORCECR"),
    (r"stripcr", "STRIPCR"), (r"pass8(bits)?", "PASS8BITS"), (r"dropstatus", "DROPSTATUS"),
    (r"dropdelivered", "DROPDELIVERED"), (r"mimedec(ode)?", "MIMEDECODE"), (r"idle", "IDLE"),
    (r"forceidle", "FORCEIDLE"), (r"dns", "DNS"), (r"uidl", "UIDL"), (r"ssl", "SSL"),
    (r"sslkey", "SSLKEY"), (r"sslcert", "SSLCERT"), (r"sslproto", "SSLPROTO"),
    (r"sslcertck", "SSLCERTCK"), (r"sslcertfile", "SSLCERTFILE"),
    (r"sslcertpath", "SSLCERTPATH"), (r"sslcommonname", "SSLCOMMONNAME"),
    (r"sslfingerprint", "SSLFINGERPRINT"), (r"checkalias", "CHECKALIAS"), (r"limit", "LIMIT"),
    (r"kpop|KPOP", "KPOP"), (r"sdps|SDPS", "SDPS"),
]
_KEYWORD_RES = [(re.compile(p), kind) for p, kind in _KEYWORDS]
_AUTHTYPES = [
    (r"any", "any"), (r"gssapi", "gssapi"), (r"kerberos(_v)?4|kerberos", "kerberos_v4"),
    (r"kerberos(_v)?5", "kerberos_v5"), (r"ssh", "ssh"), (r"implicit", "implicit"),
    (r"external", "external"), (r"otp|opie", "otp"), (r"cram(-md5)?", "cram-md5"),
    (r"msn", "msn"), (r"ntlm", "ntlm"),
]
_AUTH_RES = [(re.compile(p), value) for p, value in _AUTHTYPES]
_PROTOS = ("auto", "pop2", "pop3", "imap", "apop", "rpop", "etrn", "odmr")
_NOISE = {"with", "and", "has", "wants", "options"}
# `no` glued to these is split off (rcfile_l.l lists them).
_GLUED_NO = re.compile(
    r"no(bouncemail|uidl|checkalias|dns|envelope|keep|flush|limitflush|fetchall|rewrite|"
    r"forcecr|stripcr|pass8(bits)?|dropstatus|dropdelivered|mimedec(ode)?|spambounce|idle|"
    r"forceidle)"
)
_NAME_STATE = {"USERNAME", "PASSWORD", "IS", "TO", "MAP"}
_BARE = re.compile(r"[^=;:, \t\r\n]+")
_NUMBER = re.compile(r"-?[0-9]+")


def unescape(text):
    """fetchmail's escapes(): never longer than its input."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "0123456789xX":
            i += 1
            value, count = 0, 0
            if text[i] in "xX":
                i += 1
                while i < n and text[i] in "0123456789abcdefABCDEF" and count < 2:
                    value, i, count = value * 16 + int(text[i], 16), i + 1, count + 1
            else:
                digits = "01234567" if text[i] == "0" else "0123456789"
                base = 8 if text[i] == "0" else 10
                while i < n and text[i] in digits and count < 3:
                    value, i, count = value * base + int(text[i]), i + 1, count + 1
            out.append(chr(value))
        elif ch == "\\":
            i += 1
            if i >= n:
                break  # a backslash at the very end is dropped
            follower = text[i]
            i += 1
            if follower == "\n":
                continue  # joins lines
            out.append({"n": "\n", "t": "\t", "b": "\b", "r": "\r"}.get(follower, follower))
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _keyword(word, auth_state):
    if word in _NOISE:
        return "NOISE", None
    if word in _PROTOS or word.lower() in _PROTOS and word.isupper():
        return "PROTO", word.lower()
    for pattern, value in _AUTH_RES:
        if pattern.fullmatch(word):
            return "AUTHTYPE", value
    if auth_state and word == "password":
        return "AUTHTYPE", "password"
    for pattern, kind in _KEYWORD_RES:
        if pattern.fullmatch(word):
            return kind, word
    return None, None


def tokenize(text):
    """The file's tokens, ending with EOF; raises RcSyntaxError for an unclosed quote."""
    tokens, state = [], None  # state: None, "NAME" or "AUTH"
    i, line, line_start, n = 0, 1, 0, len(text)

    def emit(kind, value, _end, raw, start_line, start_col):
        tokens.append(Token(kind, value, start_line, start_col, raw))

    while i < n:
        ch = text[i]
        col = i - line_start + 1
        if ch == "\n":
            line, line_start, i = line + 1, i + 1, i + 1
        elif ch in " \t\r;:,":
            i += 1
        elif ch == "\\" and text.startswith("\n", i + 1):
            line, line_start, i = line + 1, i + 2, i + 2
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif ch in "\"'":
            end = text.find(ch, i + 1)
            if end < 0:
                raise RcSyntaxError(f"unterminated {ch}-quoted string", line, col)
            raw = text[i : end + 1]
            emit("STRING", unescape(raw[1:-1]), i, raw, line, col)
            newlines = raw.count("\n")
            if newlines:
                line, line_start = line + newlines, i + raw.rfind("\n") + 1
            i, state = end + 1, None
        elif ch == "=":
            emit("MAP", "=", i, "=", line, col)
            i, state = i + 1, "NAME"
        else:
            word = _BARE.match(text, i).group()
            i += len(word)
            if state == "NAME":
                emit("STRING", unescape(word), i, word, line, col)
                state = None
                continue
            glued = _GLUED_NO.fullmatch(word)
            if glued:
                emit("NO", "no", i, "no", line, col)
                word, col = word[2:], col + 2
            kind, value = _keyword(word, state == "AUTH")
            if kind == "NOISE":
                continue
            if kind is None:
                if _NUMBER.fullmatch(word):
                    emit("NUMBER", int(word), i, word, line, col)
                else:
                    emit("STRING", unescape(word), i, word, line, col)
                continue
            emit(kind, value, i, word, line, col)
            if kind in _NAME_STATE:
                state = "NAME"
            elif kind == "AUTHENTICATE":
                state = "AUTH"
            elif kind == "AUTHTYPE":
                state = None
    tokens.append(Token("EOF", None, line, n - line_start + 1, "end of file"))
    return tokens
