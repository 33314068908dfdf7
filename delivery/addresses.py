"""Addresses out of raw header values: parsing that never raises on hostile input.

delivery/recipients.py decides who gets a copy; delivery/envelope.py what
each copy may say. Both read addresses the same way, through this module.
"""

import re
from email.header import decode_header, make_header
from email.utils import getaddresses

# getaddresses() is roughly 1 s per MiB; bound the work a hostile header block costs.
MAX_FIELD_CHARS = 64 * 1024
_SPECIALS = set('()<>[]:;@\\,"')
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # punycode labels included
_COMMENT = re.compile(r"\([^()]*\)")
# "for" then one or more comma-separated <addr> / bare addr (Exim writes "for a@x;").
_FOR = re.compile(
    r"\bfor\s+((?:<[^<>]*>|[^\s<>;,]+)(?:\s*,\s*(?:<[^<>]*>|[^\s<>;,]+))*)", re.IGNORECASE
)
_SALVAGE = re.compile(r"[^\s<>()\[\],;:\"]+@[^\s<>()\[\],;:\"]+")


def normalize_domain(domain: str) -> str:
    domain = domain.strip().lower().rstrip(".").lstrip("@")
    if not domain.isascii():
        # One spelling for IDN domains, whether typed in Unicode or punycode.
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return domain


def normalize_address(addr: str) -> str | None:
    """Lower-cased "local@domain", or None if this is not a usable address."""
    addr = addr.strip()
    if not addr or len(addr) > 254 or "@" not in addr:
        return None
    local, _, domain = addr.rpartition("@")
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        inner = local[1:-1]
        # "john.doe"@x is john.doe@x; other quoted forms stay quoted, as stored.
        local = inner if _DOT_ATOM.fullmatch(inner) else local
    elif not local or any(c in _SPECIALS or c.isspace() for c in local):
        return None
    if not local.isprintable():
        return None
    domain = normalize_domain(domain)
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None  # also rejects domain literals and garbage that decoded to U+FFFD
    return f"{local.lower()}@{domain}"


def header_text(value) -> str:
    """A raw header value as text; undecodable 8-bit bytes read as UTF-8 or U+FFFD."""
    if not isinstance(value, str):
        value = str(value)
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8")


def _parse(value: str) -> list[tuple[str, str]]:
    try:
        pairs = [p for p in getaddresses([value]) if p[1]]
        if not pairs and "@" in value:
            # Python 3.13's strict parser returns nothing at all for a list
            # with one malformed entry; the lenient one keeps the good ones.
            pairs = [p for p in _lenient(value) if p[1]]
    except Exception:  # e.g. RecursionError on thousands of nested "(" in 3.12
        pairs = []
    if not pairs and "@" in value:
        pairs = [("", m) for m in _SALVAGE.findall(value)]
    return pairs


def _lenient(value: str) -> list[tuple[str, str]]:
    try:
        return getaddresses([value], strict=False)
    except TypeError:  # before the strict flag existed, parsing was lenient
        return getaddresses([value])


def _decode_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # unknown charset, broken base64: not an address then
        return ""


def clip(value: str) -> str:
    # Cut an over-long list at a comma, so no address is cut into a different one.
    if len(value) <= MAX_FIELD_CHARS:
        return value
    return value[:MAX_FIELD_CHARS].rpartition(",")[0]


def addresses_in(value: str) -> list[str]:
    """Usable addresses in one address-list header value (groups, comments, encoded words)."""
    value = clip(value)
    found = []
    for _name, addr in _parse(value):
        if "=?" in addr:
            # A broken mailer encoded the whole mailbox (=?utf-8?b?Qm9i...?=): decode
            # only the address position, never display names, which may say anything.
            found += [a for _, a in _parse(_decode_words(addr))]
        else:
            found.append(addr)
    return [a for a in map(normalize_address, found) if a]


def received_for(value: str) -> list[str]:
    """Addresses in the "for" clause of one Received value; comments do not count."""
    value = value[:MAX_FIELD_CHARS]
    for _ in range(20):  # innermost comments first; deeper nesting is left alone
        value, count = _COMMENT.subn(" ", value)
        if not count:
            break
    found = []
    for match in _FOR.finditer(value):
        found += addresses_in(match.group(1))
    return found
