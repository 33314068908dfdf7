"""The client's address, as the login throttle and the audit trail record it."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The TCP peer, or behind a proxy the address the proxy reports.

    Only the last entry of a forwarded list is taken: our proxy appends the
    address it saw, anything before it came from the client and is forged
    at will (a spoofed address would dodge the throttle and lie in the audit).
    """
    header = settings.POPADMIN_CLIENT_IP_HEADER
    if header:
        forwarded = request.META.get(header, "").split(",")[-1].strip()
        if _is_ip(forwarded):
            return forwarded
    peer = request.META.get("REMOTE_ADDR", "")
    return peer if _is_ip(peer) else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
