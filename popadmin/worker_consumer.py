"""The worker's broker consumer, reconnecting at a steady pace.

Celery's consumer retries a lost broker connection after 2, 4, 6, ... up to 30
seconds between attempts (kombu's defaults, which Celery does not expose as
settings). After a broker restart of half a minute a worker would then sit idle
for up to another half minute while the dispatcher, reconnected at once, has
already queued work: retrieval stalls for several dispatcher ticks. Here the
attempts come every RECONNECT_SECONDS, so a worker is back within about that
long of the broker's return.
"""

import functools

from celery.worker.consumer import Consumer as CeleryConsumer

RECONNECT_SECONDS = 1.0


class Consumer(CeleryConsumer):
    def ensure_connected(self, conn):
        conn.ensure_connection = functools.partial(
            conn.ensure_connection, interval_start=RECONNECT_SECONDS, interval_step=0,
            interval_max=RECONNECT_SECONDS)
        return super().ensure_connected(conn)
