"""A watcher (retrieval/watch/service.py) run in the test's own process, on a thread of its own."""

import asyncio
import threading
from contextlib import contextmanager

from retrieval.watch.service import Watcher


@contextmanager
def watcher_running(name: str = "in-test"):
    """Yields the running Watcher; stops it (and its connections) on the way out."""
    started = threading.Event()
    held: dict = {}
    failure: list[BaseException] = []

    def run():
        async def main():
            held["watcher"] = Watcher(name)
            held["loop"] = asyncio.get_running_loop()
            started.set()
            await held["watcher"].run()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the test, not lost in the thread
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=run, name=f"watcher-{name}", daemon=True)
    thread.start()
    assert started.wait(10), "the watcher did not start"
    try:
        yield held["watcher"]
    finally:
        if "loop" in held:
            held["loop"].call_soon_threadsafe(held["watcher"].stopping.set)
        thread.join(30)
        assert not thread.is_alive(), "the watcher did not stop"
    if failure:
        raise failure[0]
