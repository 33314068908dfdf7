"""The errors of the wire layer, for retrieval and delivery alike.

Every one carries a readable reason fit for the run history (never
containing a password).
"""


class ProtocolError(Exception):
    """The server or the connection failed; the message says how, in plain words."""

    retryable = False


class ConnectError(ProtocolError):
    """Could not reach the server (refused, unreachable, DNS, timeout on connect)."""

    retryable = True


class TLSError(ProtocolError):
    """TLS could not be set up or the certificate is not trusted."""


class LimitExceeded(ProtocolError):
    """The server sent more than a limit allows (line too long, response too big)."""


class MessageTooLarge(ProtocolError):
    """A message exceeded the account's maximum size while being fetched."""
