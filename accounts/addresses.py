"""What a local mailbox address may look like. Django-free: delivery/maildir.py checks
every Maildir path against the same rule at delivery time.

A local part names a folder under MAIL_ROOT/<domain>/, so it must be one
plain folder name. RFC 5322 allows far more (quoted strings with spaces and
slashes, "/" in a dot-atom), and so does Django's email validator: with it,
`"/../../x"@example.com` left MAIL_ROOT and `bob/.Spam@example.com` wrote into
bob's Spam folder. Only the dot-atom form is accepted here, without "/":
letters, digits and !#$%&'*+-=?^_`{|}~, with single dots between them.
"""

import re

# RFC 5322 atext without "/" (the only atext character that is a path separator).
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-=?^_`{|}~]"
LOCALPART = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
LOCALPART_RULE = (
    "letters, digits and !#$%&'*+-=?^_`{|}~, with single dots between them "
    "(no leading or trailing dot), at most 64 characters"
)
# RFC 5321 4.5.3.1.1.
MAX_LOCALPART = 64
# A path component on the usual file systems.
MAX_COMPONENT_BYTES = 255


def localpart_problem(localpart: str) -> str | None:
    """Why `localpart` cannot be a mailbox's local part, or None when it can."""
    if len(localpart) > MAX_LOCALPART:
        return f"the part before the @ is longer than {MAX_LOCALPART} characters"
    if not LOCALPART.fullmatch(localpart):
        return f"the part before the @ may only contain {LOCALPART_RULE}"
    return None


def domain_problem(domain: str) -> str | None:
    """Why `domain` cannot name a folder under MAIL_ROOT (syntax is Django's concern)."""
    if not domain or domain.startswith(".") or domain in ("..", "."):
        return "the domain is empty or starts with a dot"
    if any(ch in "/\\" or not ch.isprintable() or ch.isspace() for ch in domain):
        return "the domain contains a slash, a space or a control character"
    if len(domain.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
        return "the domain is too long"
    return None


def address_problem(address: str) -> str | None:
    """Why `address` cannot be a local mailbox's address or alias, or None."""
    if not isinstance(address, str) or "@" not in address:
        return "an address needs a local part, an @ and a domain"
    localpart, _, domain = address.rpartition("@")
    return localpart_problem(localpart) or domain_problem(domain)
