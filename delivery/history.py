"""Delivery rows: what happened to each copy of each fetched message.

One row per copy (mailbox), made by the Router once its backend has
answered: delivered, failed (with the reason), or a duplicate that was not
delivered again. The rows answer "where did this message go?" and back the
duplicate check (delivery/dedupe.py) and retries (the token).

The rows are returned new (popadmin/rows.py): the caller writes a whole group
of them with one INSERT in the transaction that also records the messages' seen-state
(retrieval/group_commit.py), instead of one INSERT per copy.
"""

from django.db import connection

from delivery.backends import DELIVERED, MAILBOX_FULL, STORAGE_FULL
from delivery.message import MessageInfo
from delivery.models import Delivery
from popadmin import rows
from popadmin.text import storable


def record_duplicate(mailbox, folder: str, info: MessageInfo, *, run, backend: str) -> rows.Row:
    """A new row: this copy was not delivered again."""
    return _record(mailbox, folder, info, run=run, backend=backend,
                   recipient=mailbox.address, result=Delivery.Result.DUPLICATE)


def record_outcome(mailbox, folder, info, *, run, backend, outcome, token) -> rows.Row:
    """A new row: what the backend said about one recipient's copy
    (delivery/backends Outcome)."""
    delivered = outcome.status == DELIVERED
    return _record(
        mailbox, folder, info, run=run, backend=backend, recipient=outcome.recipient,
        token=token,
        result=Delivery.Result.DELIVERED if delivered else Delivery.Result.FAILED,
        detail="" if delivered else storable(describe(outcome)),
        remote_uid=storable(outcome.remote_id, _size("remote_uid")),
    )


def earlier_copies(token: str, key: str, mailbox_ids, since) -> list[tuple]:
    """Delivered copies that matter to a message about to be delivered, in one query:
    those carrying its token (mailboxes an earlier attempt already served) and,
    for `mailbox_ids`, those with its key since `since` (the duplicate check).

    Rows of (mailbox_id, content_digest, served, recent); a copy that is both
    comes twice (copies_of)."""
    by_token, by_key = earlier_copies_of_many([token], [key], mailbox_ids, since)
    return copies_of(by_token, by_key, token, key, mailbox_ids)


def copies_of(by_token, by_key, token: str, key: str, mailbox_ids) -> list[tuple]:
    """One message's rows of (mailbox_id, content_digest, served, recent) out of
    what earlier_copies_of_many found for it and others; by key only in `mailbox_ids`."""
    return ([(m, d, True, False) for m, d in by_token.get(token, [])]
            + [(m, d, False, True) for m, d in by_key.get(key, []) if m in mailbox_ids])


def earlier_copies_of_many(tokens, keys, mailbox_ids, since) -> tuple[dict, dict]:
    """The delivered copies carrying any of `tokens`, and those in `mailbox_ids`
    with any of `keys` since `since`, in one query: ({token: rows}, {key: rows}),
    rows of (mailbox_id, content_digest).

    Plain SQL on purpose: it runs for every message or read-ahead window, and
    building the same query with the ORM cost more than running it (about 1 ms
    against 0.1 ms; bench/pop3_vs_peers.py). Each half names the columns of one
    index (token; mailbox, key and time) and the result is compared here, not in
    SQL: a condition on the result would let PostgreSQL pick an index of the mail
    page's (partial, on delivered rows) whenever its statistics are behind a
    table that grew fast, and read every delivered row of the table for each
    message (46 ms a message at 70,000 rows, against 0.15 ms)."""
    ops = connection.ops
    table = ops.quote_name(Delivery._meta.db_table)
    marks = ", ".join(["%s"] * len(tokens))
    # Only quoted names and %s marks are formatted in; every value is a parameter.
    sql = (f"SELECT mailbox_id, content_digest, result, token, 1 FROM {table} "  # noqa: S608
           f"WHERE token IN ({marks})")
    params: list = list(tokens)
    if mailbox_ids and keys:
        sql += (f" UNION ALL SELECT mailbox_id, content_digest, result, message_key, 0 "  # noqa: S608
                f"FROM {table} WHERE message_key IN ({', '.join(['%s'] * len(keys))}) "
                f"AND created >= %s AND mailbox_id IN ({', '.join(['%s'] * len(mailbox_ids))})")
        params += [*keys, ops.adapt_datetimefield_value(since), *mailbox_ids]
    by_token: dict = {}
    by_key: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for mailbox_id, digest, result, name, is_token in cursor.fetchall():
            if result == Delivery.Result.DELIVERED:
                (by_token if is_token else by_key).setdefault(name, []).append(
                    (mailbox_id, digest))
    return by_token, by_key


def failure_kind(outcome) -> str:
    """What a failed copy was about beyond its words (backends.base MAILBOX_FULL, ...)."""
    if outcome.storage_full:
        return STORAGE_FULL
    return MAILBOX_FULL if outcome.mailbox_full else ""


def describe(outcome) -> str:
    """A failed outcome in plain words, "mailbox full" first when it is about the quota."""
    return f"mailbox full: {outcome.detail}" if outcome.mailbox_full else outcome.detail


def _record(mailbox, folder, info: MessageInfo, *, run, backend, recipient,
            **fields) -> rows.Row:
    """A new Delivery row (popadmin/rows.py) for one copy of one message.

    Text that came with the message or from a remote server is cleaned and cut
    to its column: a NUL in a Message-ID must not make the INSERT fail.
    """
    return rows.new(
        Delivery, mailbox_id=mailbox.pk, run_id=run.pk if run else None,
        message_key=info.key, content_digest=info.digest,
        message_id=storable(info.message_id, _size("message_id")),
        sender=storable(info.sender, _size("sender")),
        subject=storable(info.subject, _size("subject")), sent=info.date,
        folder=storable(folder, _size("folder")), backend=backend, size=info.size,
        recipient=storable(recipient, _size("recipient")), **fields,
    )


def _size(field: str) -> int:
    return Delivery._meta.get_field(field).max_length
