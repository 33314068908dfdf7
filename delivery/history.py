"""Delivery rows: what happened to each copy of each fetched message.

One row per copy (mailbox), written by the Router once its backend has
answered: delivered, failed (with the reason), or a duplicate that was not
delivered again. The rows answer "where did this message go?" and back the
duplicate check (delivery/dedupe.py) and retries (the token).
"""

from delivery.backends import DELIVERED
from delivery.message import MessageInfo
from delivery.models import Delivery
from popadmin.text import storable


def record_duplicate(mailbox, folder: str, info: MessageInfo, *, run, backend: str):
    record = _record(mailbox, folder, info, run=run, backend=backend,
                     recipient=mailbox.address, result=Delivery.Result.DUPLICATE)
    record.save()
    return record


def record_outcome(mailbox, folder, info, *, run, backend, outcome, token):
    """What the backend said about one recipient's copy (delivery/backends Outcome)."""
    delivered = outcome.status == DELIVERED
    record = _record(
        mailbox, folder, info, run=run, backend=backend, recipient=outcome.recipient,
        token=token,
        result=Delivery.Result.DELIVERED if delivered else Delivery.Result.FAILED,
        detail="" if delivered else storable(describe(outcome)),
        remote_uid=storable(outcome.remote_id, _size("remote_uid")),
    )
    record.save()
    return record


def describe(outcome) -> str:
    """A failed outcome in plain words, "mailbox full" first when it is about the quota."""
    return f"mailbox full: {outcome.detail}" if outcome.mailbox_full else outcome.detail


def _record(mailbox, folder, info: MessageInfo, *, run, backend, recipient,
            **fields) -> Delivery:
    """An unsaved Delivery row for one copy of one message.

    Text that came with the message or from a remote server is cleaned and cut
    to its column: a NUL in a Message-ID must not make the INSERT fail.
    """
    return Delivery(
        mailbox=mailbox, run=run, message_key=info.key, content_digest=info.digest,
        message_id=storable(info.message_id, _size("message_id")),
        sender=storable(info.sender, _size("sender")),
        subject=storable(info.subject, _size("subject")), sent=info.date,
        folder=storable(folder, _size("folder")), backend=backend, size=info.size,
        recipient=storable(recipient, _size("recipient")), **fields,
    )


def _size(field: str) -> int:
    return Delivery._meta.get_field(field).max_length
