"""The IMAP APPEND destination in tests: a target on the second Dovecot, and a reader."""

import imaplib
import re
import ssl

from delivery.targets import DeliveryTarget

INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


def imap_target(server, username, password, security="none", save=True, **fields):
    """A DeliveryTarget that appends into `username`'s mailbox on `server`."""
    port = server.imaps_port if security == "tls" else server.imap_port
    target = DeliveryTarget(
        name=fields.pop("name", f"imap {username}"), kind="imap", host="127.0.0.1", port=port,
        security=security, username=username, timeout_seconds=10, **fields,
    )
    target.set_password(password)
    if save:
        target.save()
    return target


def fetch(server, username, password, folder="INBOX", items="(FLAGS INTERNALDATE)"):
    """What the destination itself says about each message: (uid, response) pairs."""
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=context) as imap:
        imap.login(username, password)
        status, _ = imap.select(f'"{folder}"', readonly=True)
        assert status == "OK", folder
        _, data = imap.uid("FETCH", "1:*", items)
        return [item if isinstance(item, bytes) else item[0] for item in data if item]
