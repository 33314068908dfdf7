"""A worker whose broker went away reconnects within about a second of its
return, however long it was gone: Celery's own back-off (2, 4, 6, ... up to 30 s
between attempts) would leave it idle for several dispatcher ticks after a
restart of twenty seconds (popadmin/worker_consumer.py). Production stack only
(a Redis broker of the test's own)."""

import time

import pytest

from tests.test_broker_restart import private_redis  # noqa: F401 (fixture)
from tests.workers import CeleryProcess, process_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

DOWN_SECONDS = 22  # Celery's attempts fall at 2, 6, 12, 20 and 30 s: the next is 8 s away


@pytest.mark.timeout(120)
def test_a_worker_reconnects_within_seconds_of_the_brokers_return(private_redis, tmp_path):  # noqa: F811
    env = process_env(REDIS_URL=private_redis.url)
    worker = CeleryProcess("worker", tmp_path, env=env, concurrency=1)
    try:
        worker.start()
        connected = worker.log().count("Connected to redis://")
        assert connected >= 1

        private_redis.stop()
        wait_for(lambda: "Trying again in" in worker.log() or "Cannot connect" in worker.log(),
                 timeout=20, interval=0.2, what="the worker noticing the lost broker")
        time.sleep(DOWN_SECONDS)
        private_redis.start()
        back = time.monotonic()
        wait_for(lambda: worker.log().count("Connected to redis://") > connected, timeout=30,
                 interval=0.1, what="the worker's reconnection")
        waited = time.monotonic() - back
    finally:
        worker.stop()

    assert waited < 4, f"the worker reconnected {waited:.1f} s after the broker's return"
