"""SASL initial responses for OAuth2 bearer tokens: XOAUTH2 and OAUTHBEARER (RFC 7628).

Django-free, in the shared wire layer: the retrieval protocol clients and the IMAP
APPEND delivery target both log in with it. Nothing here ever logs or echoes a token.
"""

from __future__ import annotations

import base64

MECHANISMS = {"xoauth2": "XOAUTH2", "oauthbearer": "OAUTHBEARER"}


def initial_response(mechanism: str, username: str, token: str, host: str, port: int) -> bytes:
    """The base64 client response that carries the bearer token."""
    if mechanism == "xoauth2":
        # Google's and Microsoft's format: user=..^Aauth=Bearer ..^A^A
        raw = f"user={username}\x01auth=Bearer {token}\x01\x01"
    elif mechanism == "oauthbearer":
        # RFC 7628 section 3.1: a GS2 header naming the user, then key=value pairs.
        raw = (
            f"n,a={_saslname(username)},\x01host={host}\x01port={port}"
            f"\x01auth=Bearer {token}\x01\x01"
        )
    else:
        raise ValueError(f"not an OAuth2 SASL mechanism: {mechanism!r}")
    return base64.b64encode(raw.encode("utf-8"))


def failure_reply(mechanism: str) -> bytes:
    """What the client answers to the server's error challenge, so the server can say NO.

    RFC 7628 section 3.2.3: OAUTHBEARER ends with a lone %x01; XOAUTH2
    (Google's description) with an empty response.
    """
    return base64.b64encode(b"\x01") if mechanism == "oauthbearer" else b""


def challenge_text(challenge: bytes) -> str:
    """The server's error challenge (base64 JSON, e.g. {"status":"invalid_token"}) as text."""
    try:
        return base64.b64decode(challenge.strip(), validate=True).decode("utf-8", "replace")
    except ValueError:
        return challenge.decode("ascii", "replace")


def _saslname(name: str) -> str:
    # RFC 5801: "=" and "," are escaped in a GS2 authzid.
    return name.replace("=", "=3D").replace(",", "=2C")
