"""The dispatcher's due scan with a per-server limit, in one PostgreSQL query.

Walking all due accounts in waiting order and skipping servers at their limit
(dispatcher._pick) reads the whole due list whenever the limit, not the cap,
is what binds: with a million accounts due and a few thousand servers, the
tick can only ever claim `limit` accounts per server, yet it read a million
rows to find that out (seconds per tick).

Here the database does it per server instead: a skip scan of the distinct
(lower-cased) servers on account_host_due_idx, then, for each, its first
`limit` free due accounts in waiting order on the same index. What comes back
is at most `limit` rows per server, in waiting order; the caller still skips
servers whose sessions and queued tasks already fill their limit, so the
result is exactly what the walk would have picked. The cost grows with the
number of servers, not of accounts (a claim is one probe of the claims
table's primary key per candidate).
"""

from django.db import connection

from retrieval.models import AccountClaim, RemoteAccount

_SQL = """
WITH RECURSIVE servers(h) AS (
    (SELECT lower(host) FROM {table} WHERE enabled ORDER BY lower(host) LIMIT 1)
    UNION ALL
    SELECT (SELECT lower(host) FROM {table}
            WHERE enabled AND lower(host) > servers.h ORDER BY lower(host) LIMIT 1)
    FROM servers WHERE servers.h IS NOT NULL
)
SELECT due.id, due.host, due.next_check, due.pending_trigger
FROM servers CROSS JOIN LATERAL (
    SELECT id, host, next_check, pending_trigger FROM {table}
    WHERE enabled AND lower(host) = servers.h
      AND next_check <= %(now)s AND pending_trigger = ''
      AND NOT EXISTS (SELECT FROM {claims} WHERE account_id = {table}.id AND until > %(now)s)
      AND (lease_token IS NULL OR lease_expires IS NULL OR lease_expires <= %(now)s)
    ORDER BY next_check, id
    LIMIT %(limit)s
) AS due
WHERE servers.h IS NOT NULL AND servers.h <> ALL(%(full)s)
ORDER BY due.next_check, due.id
"""


def usable() -> bool:
    return connection.vendor == "postgresql"


def first_due_per_server(now, limit: int, full) -> list[tuple]:
    """(pk, host, next_check, pending_trigger) of each server's first `limit` free due
    accounts (scheduled ones, no request pending), in waiting order; servers in `full`
    (lower-cased) are left out."""
    quote = connection.ops.quote_name
    sql = _SQL.format(
        table=quote(RemoteAccount._meta.db_table), claims=quote(AccountClaim._meta.db_table)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"now": now, "limit": limit, "full": sorted(full)})
        return cursor.fetchall()
