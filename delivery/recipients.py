"""Who gets a copy of a fetched message: recipient resolution for catch-all accounts.

A catch-all ("virtual POP3") remote mailbox holds mail for a whole domain, so the
local recipients have to be read back out of the message headers. This module
only reads the database; it never delivers. The engine calls `resolve()` once
per message with a `Directory` it loaded once per run.

Rules, in the order they apply:

* mode "single": the account owner, always (subject to loop protection).
* mode "catchall" with header parsing off: the owner, with a note.
* mode "catchall": addresses from `settings.header_fields`, in that field order
  (envelope fields such as Delivered-To come first, so they win under the cap),
  and within a field in header order. "Received" means the `for <addr>` clause
  of Received lines. When an envelope field (every configured field but To, Cc
  and the other author-written ones) names an address in an accepted domain,
  only the envelope fields count: To/Cc may name people this copy was not for,
  and a Bcc recipient is named nowhere else. Such a resolution is `private`:
  each copy must lose the envelope headers naming the others
  (delivery/envelope.py). Our own trace never counts as envelope.
  Only addresses in an accepted domain count; each maps to
  the mailbox with that address or alias (case-insensitive). Unknown addresses
  in an accepted domain go to the postmaster if re-routing is on (and one
  exists), else they are dropped and counted. Each mailbox gets one copy.
* Loop protection (both modes): a mailbox is skipped when the message already
  carries *our* trace for it. Ours means both lines that
  delivery.backends.trace_headers writes: a Received line "by popadmin for
  <addr>" AND a Delivered-To equal to addr. A Delivered-To alone is not ours:
  remote servers (Postfix, Exim) legitimately add one for the very address we
  deliver to, most of all in single mode.
* If nothing is left and no mailbox was skipped as a loop, the message goes to
  the owner with a note: a header heuristic must never lose mail. If loops
  emptied the list the result is empty on purpose: that mailbox has it already.
* At most `max_recipients` mailboxes (0 = no cap); the rest are named in a note.

Parsing never raises: hostile headers yield fewer addresses, not an exception.
"""

import json
import re
from dataclasses import dataclass, field

from django.db.models import Q

from accounts.models import Mailbox
from delivery.addresses import (
    addresses_in,
    clip,
    header_text,
    normalize_address,
    normalize_domain,
    received_for,
)

# Where a catch-all message names its recipients, envelope fields first
# (the administrator's choice, GlobalSettings.header_fields, starts as this).
DEFAULT_HEADER_FIELDS = [
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
    "To",
    "Cc",
    "Received",
]

MAX_TOTAL_CHARS = 512 * 1024
NOTE_LIST = 10  # addresses named in one note; the rest are counted

_OUR_RECEIVED = re.compile(r"\bby\s+popadmin\s+for\s+<([^<>\s]+)>", re.IGNORECASE)
# Fields the author writes; every other configured field is envelope
# information a receiving server added (Delivered-To, X-Original-To, Received...).
MESSAGE_FIELDS = frozenset(
    {"to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc", "from", "sender", "reply-to",
     "resent-from", "resent-sender"}
)


@dataclass
class Resolution:
    mailboxes: list[Mailbox] = field(default_factory=list)  # distinct, in header order
    notes: list[str] = field(default_factory=list)  # plain words, for Run.note
    dropped_unknown: int = 0  # unknown accepted-domain addresses not delivered
    loops: list[Mailbox] = field(default_factory=list)  # skipped: our trace already there
    private: bool = False  # distributed by envelope fields: copies must not name each other


class Directory:
    """Address -> local mailbox for the accepted domains, loaded once per run.

    Mailboxes created during a run are seen by the next run; that is the price
    of not querying per message.
    """

    def __init__(self, domains, mailboxes):
        self.domains = frozenset(normalize_domain(d) for d in domains if d and d.strip())
        self.by_address: dict[str, Mailbox] = {}
        ordered = sorted(mailboxes, key=lambda m: m.address.lower())
        # Aliases first, then addresses, so a primary address beats someone's alias.
        for mailbox in ordered:
            for alias in mailbox.aliases or []:
                key = normalize_address(str(alias))
                if key:
                    self.by_address.setdefault(key, mailbox)
        for mailbox in ordered:
            key = normalize_address(mailbox.address)
            if key:
                self.by_address[key] = mailbox
        self.postmasters = [m for m in ordered if m.is_postmaster]

    @classmethod
    def load(cls, settings) -> "Directory":
        """One query: mailboxes with an address or alias in an accepted domain, and postmasters."""
        domains = [normalize_domain(d) for d in settings.accepted_domains or [] if d.strip()]
        query = Q(is_postmaster=True)
        for domain in domains:
            # An IDN domain may be stored as punycode or Unicode, and SQLite keeps
            # JSON with \uXXXX escapes while PostgreSQL shows the characters.
            unicode_form = _unicode_domain(domain)
            spellings = {domain, unicode_form, json.dumps(unicode_form)[1:-1]}
            for spelling in spellings:
                # A text match on the JSON list is portable (SQLite, PostgreSQL); it may
                # over-match (corp.example.org), which the exact dict lookup ignores.
                query |= Q(address__iendswith="@" + spelling)
                query |= Q(aliases__icontains="@" + spelling)
        return cls(domains, Mailbox.objects.filter(query))

    def accepts(self, address: str) -> bool:
        return address.rpartition("@")[2] in self.domains

    def lookup(self, address: str) -> Mailbox | None:
        return self.by_address.get(address)

    def recipient(self, address: str, reroute: bool) -> Mailbox | None:
        """The mailbox a normalized address is delivered to, rerouting included."""
        if not self.accepts(address):
            return None
        found = self.lookup(address)
        return found if found is not None or not reroute else self.postmaster_for(address)

    def postmaster_for(self, address: str) -> Mailbox | None:
        """The postmaster in the recipient's domain, else the first by address."""
        domain = address.rpartition("@")[2]
        for mailbox in self.postmasters:
            if normalize_domain(mailbox.domain) == domain:
                return mailbox
        return self.postmasters[0] if self.postmasters else None


def _unicode_domain(domain: str) -> str:
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return domain


def _header_values(headers, wanted: set[str]) -> dict[str, list[str]]:
    # raw_items() gives the bytes-as-surrogates text compat32 read, so UTF-8
    # addresses survive; get_all() would hand back lossy Header objects.
    values: dict[str, list[str]] = {}
    total = 0
    for name, value in headers.raw_items() if headers is not None else []:
        name = str(name).strip().lower()
        if name not in wanted:
            continue  # bulky DKIM or junk headers must not crowd out the budget
        text = clip(header_text(value))
        total += len(text)
        if total > MAX_TOTAL_CHARS:
            break
        values.setdefault(name, []).append(text)
    return values


def recipient_addresses(values: dict[str, list[str]], fields) -> list[str]:
    """Distinct addresses from the configured fields, field order then header order."""
    result: dict[str, None] = {}
    for name in dict.fromkeys(f.strip().lower() for f in fields if f and f.strip()):
        extract = received_for if name == "received" else addresses_in
        for value in values.get(name, []):
            result.update(dict.fromkeys(extract(value)))
    return list(result)


def is_envelope_field(name) -> bool:
    name = str(name or "").strip().lower()
    return bool(name) and name not in MESSAGE_FIELDS


def _untraced(values: dict[str, list[str]], traced: set[str]) -> dict[str, list[str]]:
    """`values` without the lines of our own trace: they tell where we delivered
    the message before, not whom this copy was sent to."""
    if not traced:
        return values
    result = dict(values)
    result["received"] = [
        v for v in values.get("received", [])
        if not any(normalize_address(a) in traced for a in _OUR_RECEIVED.findall(v))
    ]
    result["delivered-to"] = [
        v for v in values.get("delivered-to", []) if not set(addresses_in(v)) <= traced
    ]
    return result


def our_trace(values: dict[str, list[str]]) -> set[str]:
    """Addresses this installation already delivered the message to (see module doc)."""
    traced = {
        addr
        for value in values.get("received", [])
        for match in _OUR_RECEIVED.finditer(value)
        if (addr := normalize_address(match.group(1)))
    }
    if not traced:
        return set()
    delivered = {a for value in values.get("delivered-to", []) for a in addresses_in(value)}
    return traced & delivered


def _looped(mailbox: Mailbox, traced: set[str]) -> bool:
    if not traced:
        return False  # the usual case: no trace of ours in the message
    names = [mailbox.address, *(mailbox.aliases or [])]
    return any(normalize_address(str(n)) in traced for n in names)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _listing(addresses) -> str:
    addresses = list(addresses)
    text = ", ".join(addresses[:NOTE_LIST])
    if len(addresses) > NOTE_LIST:
        text += f" and {len(addresses) - NOTE_LIST} more"
    return text


def resolve(
    headers, *, owner: Mailbox, mode: str, settings, max_recipients: int, directory=None
) -> Resolution:
    """The local mailboxes one fetched message goes to; see the module doc for the rules.

    `headers` is MessageInfo.headers (compat32). Pass a `Directory.load(settings)`
    kept for the whole run; without one, each catch-all call costs one query.
    """
    if mode not in ("single", "catchall"):
        raise ValueError(f"unknown account mode {mode!r}")
    parse = mode == "catchall" and settings.parse_headers
    fields = (settings.header_fields or DEFAULT_HEADER_FIELDS) if parse else []
    wanted = {"received", "delivered-to", *(f.strip().lower() for f in fields if f)}
    values = _header_values(headers, wanted)
    traced = our_trace(values)
    res = Resolution()
    candidates: list[Mailbox] = []
    fallback_why = ""
    if mode == "catchall" and not parse:
        fallback_why = "parsing headers for recipients is turned off"
    elif parse:
        candidates, fallback_why = _catchall(res, values, traced, fields, settings, directory)
    if not candidates:
        # Single mode, parsing off, or nothing usable found: the owner, never nobody.
        candidates = [owner]
        if fallback_why and not _looped(owner, traced):
            res.notes.append(f"delivered to the account owner {owner.address}: {fallback_why}")
    for mailbox in candidates:
        (res.loops if _looped(mailbox, traced) else res.mailboxes).append(mailbox)
    if res.loops:
        res.notes.append(
            f"not delivered again to {_listing(m.address for m in res.loops)}: the message "
            "already carries our delivery trace for them (mail loop)"
        )
    if max_recipients and max_recipients > 0 and len(res.mailboxes) > max_recipients:
        rest = res.mailboxes[max_recipients:]
        res.mailboxes = res.mailboxes[:max_recipients]
        res.notes.append(
            f"recipient cap of {max_recipients} reached; {_count(len(rest), 'more recipient')} "
            f"not delivered: {_listing(m.address for m in rest)}"
        )
    return res


def _catchall(res, values, traced, fields, settings, directory) -> tuple[list[Mailbox], str]:
    """Distinct mailboxes named in the headers, and why there are none if so."""
    directory = directory or Directory.load(settings)
    envelope_fields = [f for f in fields if is_envelope_field(f)]
    envelope = [
        a for a in recipient_addresses(_untraced(values, traced), envelope_fields)
        if directory.accepts(a)
    ]
    res.private = bool(envelope)
    candidates: list[Mailbox] = []
    seen: set[int] = set()
    unknown: list[str] = []
    rerouted: list[str] = []
    found_accepted = False
    for addr in envelope or recipient_addresses(values, fields):
        if not directory.accepts(addr):
            continue
        found_accepted = True
        mailbox = directory.lookup(addr)
        if mailbox is None and settings.reroute_unknown:
            mailbox = directory.postmaster_for(addr)
            if mailbox is not None:
                rerouted.append(f"{addr} -> {mailbox.address}")
        if mailbox is None:
            unknown.append(addr)
        elif mailbox.pk not in seen:
            seen.add(mailbox.pk)
            candidates.append(mailbox)
    if rerouted:
        res.notes.append(f"unknown recipients re-routed to the postmaster: {_listing(rerouted)}")
    if unknown:
        res.dropped_unknown = len(unknown)
        why = (
            "re-routing is on but there is no postmaster mailbox"
            if settings.reroute_unknown
            else "re-routing to the postmaster is off"
        )
        res.notes.append(
            f"{_count(len(unknown), 'unknown recipient')} not delivered ({why}): "
            f"{_listing(unknown)}"
        )
    if found_accepted:
        return candidates, "no known recipient in the headers"
    return candidates, "no recipient in an accepted domain in the headers"
