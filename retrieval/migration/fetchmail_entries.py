"""What each fetchmailrc user means in popadmin's terms.

Choices where fetchmail and popadmin differ (docs/admin/migration.md lists them):
- no `ssl`: fetchmail 6.4+ upgrades with STARTTLS and checks the certificate,
  so the account uses STARTTLS; `sslproto ''` (an empty string) turns TLS off.
- `skip` entries are imported disabled; `keep` and `nokeep` map to the keep
  policy; `limit` (bytes) becomes the size limit, rounded up to whole MB.
- `set daemon` times `interval` becomes the poll frequency.
- several local names, `is * here`, `localdomains` or `envelope` make a
  catch-all account; its domains and envelope header join the global
  settings, since popadmin keeps them there, not per account.
"""

import math
import socket

from .candidate import Candidate

SERVICES = {"pop3": 110, "pop-3": 110, "pop3s": 995, "imap": 143, "imap2": 143, "imaps": 993}
# Options that change nothing popadmin does, or that it does its own way anyway.
HARMLESS = {
    "user", "password", "protocol", "via", "port", "service", "localnames", "wildcard",
    "ssl", "sslcertck", "sslproto", "keep", "folder", "limit", "interval", "localdomains",
    "envelope", "aka", "uidl", "checkalias", "dns", "timeout", "tracepolls", "badheader",
    "rewrite", "forcecr", "stripcr", "pass8bits", "dropstatus", "dropdelivered", "mimedecode",
    "warnings", "fastuidl", "expunge", "batchlimit", "fetchsizelimit", "properties", "idle",
    "qvirtual", "limitflush", "fetchall", "fetchlimit", "sslcertfile", "sslcertpath",
    "authenticate", "spamresponse", "interface", "monitor", "principal",
}
DELIVERY = ("mda", "smtphost", "bsmtp", "lmtp", "smtpaddress", "smtpname", "fetchdomains")


def candidates(rc, filename):
    """One Candidate per user in the file, in order."""
    return [_candidate(user, rc.settings, filename) for user in rc.users]


def _candidate(user, settings, filename):
    o = user.options
    host = o.get("via") or user.poll_name
    c = Candidate(source=f"{filename}:{user.line}", host=host)
    c.state_hosts = [user.poll_name] + ([o["via"]] if o.get("via") else [])
    c.username = o.get("user", "")
    c.password = o.get("password")
    c.enabled = not user.skip
    if user.skip:
        c.disabled_why = "skip in the fetchmailrc: fetchmail does not poll it"
    if not c.username:
        c.refuse("no remote user name (fetchmail would use the login running it)")
    if c.password is None:
        c.refuse("no password in the file (fetchmail would read ~/.netrc or ask); "
                 "add it with `password` and import again")
    _protocol(c, o)
    _security(c, o)
    _port(c, o)
    _mailbox_options(c, o, settings)
    _locals(c, o)
    _unsupported(c, o)
    return c


def _protocol(c, o):
    proto = o.get("protocol", "auto")
    if proto in ("pop3", "imap", "auto"):
        c.protocol = proto
    elif proto == "apop":
        c.protocol = "pop3"
        c.note("APOP: popadmin logs in with USER/PASS (over TLS), not APOP")
    else:
        c.refuse(f"protocol {proto.upper()} is not supported (POP3 and IMAP are)")
    auth = o.get("authenticate", "any")
    if auth not in ("any", "password"):
        c.refuse(f"authentication {auth} is not supported (passwords only)")


def _security(c, o):
    if o.get("ssl"):
        c.security = "tls"
    elif o.get("sslproto") == "":
        c.security = "none"
    else:
        c.security = "starttls"
    c.verify_tls = o.get("sslcertck", True) is not False
    if not c.verify_tls and c.security != "none":
        c.note("no sslcertck: the TLS certificate is not verified")
    if o.get("sslproto"):
        c.note(f"sslproto {o['sslproto']} not carried over: popadmin negotiates TLS 1.2 or newer")
    for key in ("sslcertfile", "sslcertpath"):
        if o.get(key):
            c.note(f"{key} not carried over: trusted CAs are the system's plus POPADMIN_CA_FILE")
    for key in ("sslfingerprint", "sslcommonname", "sslcert", "sslkey"):
        if o.get(key):
            c.refuse(f"{key} (certificate pinning or client certificates) is not supported")


def _port(c, o):
    service = o.get("port", o.get("service"))
    if service is None:
        return
    if isinstance(service, int) or str(service).isdigit():
        c.port = int(service)
    else:
        try:
            c.port = SERVICES.get(service) or socket.getservbyname(service, "tcp")
        except OSError:
            c.refuse(f"unknown service name {service!r}")
            return
    if not 1 <= c.port <= 65535:
        c.refuse(f"port {c.port} out of range")
    # fetchmail speaks implicit TLS on the well-known TLS ports even without `ssl`.
    if c.port in (993, 995) and c.security == "starttls":
        c.security = "tls"


def _mailbox_options(c, o, settings):
    if o.get("keep"):
        c.keep = "keep"
    if o.get("folder"):
        if c.protocol == "pop3":
            c.note("folder ignored: POP3 has one mailbox")
        else:
            c.folders = list(o["folder"])
    limit = o.get("limit") or 0
    if limit > 0:
        c.max_message_mb = math.ceil(limit / (1024 * 1024))
        if limit % (1024 * 1024):
            c.note(f"limit {limit} bytes rounded up to {c.max_message_mb} MB")
    if o.get("fetchlimit"):
        c.note("fetchlimit not carried over: messages per download is a global setting")
    if o.get("fetchall"):
        c.note("fetchall: popadmin takes every message it has not taken before, once")
    if o.get("flush"):
        c.note("flush not carried over: popadmin never deletes mail it has not delivered")
    daemon = settings.get("daemon")
    if daemon:
        seconds = daemon * max(1, o.get("interval") or 1)
        c.poll_minutes = max(1, math.ceil(seconds / 60))


def _locals(c, o):
    names = o.get("localnames") or []
    c.wildcard = bool(o.get("wildcard"))
    for name, mapped in names:
        c.local_names.append(mapped or name)
        if mapped:
            c.note(f"mapping {name}={mapped}: mail is delivered by the recipient addresses "
                   "of the local mailboxes, not by remote names")
    multidrop = c.wildcard or len(names) > 1 or bool(o.get("localdomains"))
    if multidrop:
        c.mode = "catchall"
        c.accepted_domains = [d.lower() for d in o.get("localdomains") or []]
        envelope = o.get("envelope")
        if envelope:
            c.header_fields = [envelope[1]]
            if envelope[0]:
                c.note(f"envelope skip count {envelope[0]} not carried over")
    elif o.get("envelope") or o.get("localdomains"):
        c.note("envelope and localdomains only matter for multidrop entries")


def _unsupported(c, o):
    for key in ("plugin", "plugout"):
        if o.get(key):
            c.refuse(f"{key} (a command that makes the connection) is not supported")
    for key in ("preconnect", "postconnect"):
        if o.get(key):
            c.note(f"{key} command not carried over")
    for key in DELIVERY:
        if o.get(key):
            c.note(f"{key} not carried over: mail goes to the local mailbox's delivery target")
            break
    for key in sorted(set(o) - HARMLESS - set(DELIVERY) - {"plugin", "plugout", "preconnect",
                      "postconnect", "flush", "sslfingerprint", "sslcommonname", "sslcert",
                      "sslkey", "esmtpname", "esmtppassword", "idletimeout", "forceidle"}):
        c.note(f"{key} not carried over")
