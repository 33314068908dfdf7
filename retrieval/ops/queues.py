"""Tasks waiting in each Celery queue, read from the broker itself."""

import logging
import os

from django.conf import settings

from retrieval.dispatcher import INTERACTIVE_QUEUE, SCHEDULE_QUEUE

log = logging.getLogger(__name__)

# The names the dashboard and /metrics use for the two queues.
QUEUES = {"interactive": INTERACTIVE_QUEUE, "scheduled": SCHEDULE_QUEUE}


class BrokerUnavailable(Exception):
    pass


def depths() -> dict[str, int]:
    """{"interactive": n, "scheduled": n}; BrokerUnavailable when the broker does not answer."""
    if settings.REDIS_URL:
        return _redis_depths()
    return _filesystem_depths()


def _redis_depths() -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in QUEUES.values():
                pipe.llen(queue)
            counts = pipe.execute()
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"redis: {type(exc).__name__}") from exc
    finally:
        client.close()
    return dict(zip(QUEUES, counts, strict=True))


def _filesystem_depths() -> dict[str, int]:
    # popadmin/broker.py names each message "<stamp>_<uuid>.<queue>.msg".
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
    counts = dict.fromkeys(QUEUES, 0)
    by_suffix = {f".{queue}.msg": name for name, queue in QUEUES.items()}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                for suffix, name in by_suffix.items():
                    if entry.name.endswith(suffix):
                        counts[name] += 1
    except OSError as exc:
        raise BrokerUnavailable(f"broker folder: {exc.strerror}") from exc
    return counts
