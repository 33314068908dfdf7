"""Hand one spooled message to one local mailbox and record the outcome."""

from email.utils import format_datetime
from typing import BinaryIO

from django.conf import settings
from django.utils import timezone

from delivery import maildir
from delivery.maildir import DeliveryError
from delivery.message import MessageInfo
from delivery.models import Delivery
from popadmin.text import storable


def trace_headers(mailbox, source: str) -> bytes:
    """Received + Delivered-To, so every copy says where it came from."""
    stamp = format_datetime(timezone.now())
    text = (
        f"Received: from {source}\n\tby popadmin for <{mailbox.address}>; {stamp}\n"
        f"Delivered-To: {mailbox.address}\n"
    )
    return text.encode("utf-8", "replace")


def check_quota(mailbox, size: int):
    if not mailbox.quota_mb:
        return
    limit = mailbox.quota_mb * 1024 * 1024
    if maildir.usage_bytes(home(mailbox)) + size > limit:
        raise DeliveryError(
            f"mailbox full: {mailbox.address} is over its {mailbox.quota_mb} MB quota"
        )


def deliver(
    mailbox, folder: str, spool: BinaryIO, info: MessageInfo, *, run, source: str, token: str = ""
):
    """Store the message durably; always leaves a Delivery row saying what happened.

    `token` (32 hex digits) marks the stored file so delivered_tokens() can
    tell later that this message from this source is already there.
    """
    record = _record(mailbox, folder, info, run=run, backend="maildir",
                     recipient=mailbox.address, token=token)
    try:
        check_quota(mailbox, info.size)
        prefix = trace_headers(mailbox, source)
        maildir.deliver(home(mailbox), folder, spool, info.size, prefix=prefix, token=token,
                        mode=settings.POPADMIN_MAILDIR_MODE)
    except DeliveryError as exc:
        record.result = Delivery.Result.FAILED
        record.detail = storable(exc)
        record.save()
        raise
    record.result = Delivery.Result.DELIVERED
    record.save()
    return record


def delivered_tokens(mailbox, folder: str) -> set[str]:
    """Tokens of the messages already stored in the mailbox folder."""
    try:
        return maildir.delivered_tokens(home(mailbox), folder)
    except DeliveryError:
        return set()  # nothing can be stored there either; deliver() says why


def home(mailbox):
    """The mailbox's Maildir, refused (DeliveryError) if its address would leave MAIL_ROOT."""
    return maildir.mailbox_dir(settings.MAIL_ROOT, mailbox.address)


def record_duplicate(mailbox, folder: str, info: MessageInfo, *, run, backend="maildir"):
    record = _record(mailbox, folder, info, run=run, backend=backend,
                     recipient=mailbox.address, result=Delivery.Result.DUPLICATE)
    record.save()
    return record


def record_outcome(mailbox, folder, info, *, run, backend, outcome, token):
    """The result a remote server (LMTP, SMTP) gave for one recipient."""
    delivered = outcome.status == "delivered"
    record = _record(
        mailbox, folder, info, run=run, backend=backend, recipient=outcome.recipient,
        token=token,
        result=Delivery.Result.DELIVERED if delivered else Delivery.Result.FAILED,
        detail="" if delivered else storable(outcome.detail),
    )
    record.save()
    return record


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
