"""The watcher: one asyncio process holding an IDLE connection per watched folder.

Database work runs on one thread of its own (Django's ORM is synchronous),
sign-ins on a small pool (TLS handshakes and logins block); the held
connections themselves live on the event loop. Every third of the lease the
watcher renews its leases, drops accounts it no longer holds, sheds its
surplus over a fair share and claims free accounts (leases.py). New mail
(EXISTS) goes to the dispatcher (retrieval/push.py), never to a fetch of
its own: the watcher only ever EXAMINEs.
"""

import asyncio
import logging
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from django.conf import settings
from django.db import connections
from django.utils import timezone

from popadmin.net.errors import ProtocolError
from popadmin.secrets import SecretError
from retrieval import push
from retrieval.models import PushWatch
from retrieval.protocols.base import SignInRefused
from retrieval.protocols.imap_idle import IdleConnection, open_watch
from retrieval.watch import leases, plan

log = logging.getLogger(__name__)

# Reconnect back-off: doubled per failure from the first to the last, with jitter.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0


class Watcher:
    def __init__(self, name: str | None = None):
        self.name = name or leases.new_name()
        self.tasks: dict[int, asyncio.Task] = {}
        # Per account, per watched folder: {"state", "error", "uidvalidity", "uidnext"}.
        self.status: dict[int, dict[str, dict]] = {}
        # The connection settings each task signed in with (leases.renew's fingerprints).
        self.signed_with: dict[int, int] = {}
        self.stopping = asyncio.Event()
        self._db = ThreadPoolExecutor(1, thread_name_prefix="watch-db")
        # Leases on a connection of their own: a thousand sign-ins queued on
        # the other never hold up a renewal.
        self._lease_db = ThreadPoolExecutor(1, thread_name_prefix="watch-leases")
        self._net = ThreadPoolExecutor(settings.POPADMIN_WATCH_CONNECTS,
                                       thread_name_prefix="watch-login")
        self._side: set[asyncio.Task] = set()
        self.pushes = 0

    async def db(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(
            self._db, partial(fn, *args, **kwargs))

    async def lease_db(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(
            self._lease_db, partial(fn, *args, **kwargs))

    async def run(self) -> None:
        log.info("watcher %s starting", self.name)
        self._lock = await self.lease_db(leases.register, self.name)
        period = settings.POPADMIN_WATCH_LEASE_SECONDS / 3
        try:
            while not self.stopping.is_set():
                wait = period
                try:
                    wait = await self.cycle(period)
                except Exception:  # the database may be restarting: try again next cycle
                    log.exception("watcher %s: lease cycle failed", self.name)
                try:
                    await asyncio.wait_for(self.stopping.wait(), wait)
                except TimeoutError:
                    pass
        finally:
            await self.shutdown()

    async def cycle(self, period: float) -> float:
        """Renew, shed or claim; returns how long to wait before the next round."""
        settings_of = await self.lease_db(leases.renew, self.name)
        held = set(settings_of)
        for pk in [pk for pk in self.tasks if pk not in held]:
            self._drop(pk)
        for pk in [pk for pk in self.tasks if self.signed_with.get(pk) != settings_of[pk]]:
            self._drop(pk)  # edited (server, login, folders): signed in again below
        share = await self.lease_db(leases.fair_share, self.name)
        wait = period
        if len(held) > share:
            surplus = sorted(held)[share:]
            for pk in surplus:
                self._drop(pk)
            await self.lease_db(leases.release, self.name, surplus)
            held -= set(surplus)
        elif len(held) < share:
            claimed = await self.lease_db(leases.claim, self.name, share - len(held))
            settings_of.update(await self.lease_db(leases.fingerprints, claimed))
            held |= set(claimed)
            if len(held) < share:
                expiry = await self.lease_db(leases.next_takeover, self.name)
                if expiry is not None:
                    soon = (expiry - timezone.now()).total_seconds() + 0.5
                    wait = min(period, max(0.5, soon))
        if await self.lease_db(leases.fit, self.name):
            settings_of.update(await self.lease_db(leases.fingerprints, held))
        for pk in [pk for pk in self.tasks if self.signed_with.get(pk) != settings_of.get(pk)]:
            self._drop(pk)  # fewer or more folders watched: signed in again below
        for pk in held:
            if pk not in self.tasks or self.tasks[pk].done():
                self.signed_with[pk] = settings_of.get(pk)
                self.tasks[pk] = asyncio.create_task(self.watch(pk), name=f"watch-{pk}")
        return wait

    def _drop(self, pk: int) -> None:
        self.signed_with.pop(pk, None)
        task = self.tasks.pop(pk, None)
        if task is not None:
            task.cancel()

    async def shutdown(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()
        if self._side:
            await asyncio.gather(*self._side, return_exceptions=True)
        try:
            await self.lease_db(leases.stop, self.name)
        except Exception:
            log.exception("watcher %s: could not release its accounts", self.name)
        await self.db(connections.close_all)
        if getattr(self, "_lock", None) is not None:
            await self.lease_db(self._lock.release)
        await self.lease_db(connections.close_all)
        self._db.shutdown(wait=True)
        self._lease_db.shutdown(wait=True)
        self._net.shutdown(wait=False, cancel_futures=True)
        log.info("watcher %s stopped", self.name)

    # -- one account: a connection per watched folder ---------------------------

    async def watch(self, pk: int) -> None:
        try:
            where = await self.db(plan.plan_for, pk)
            stored = await self.db(leases.stored_folders, pk)
        except Exception as exc:  # the next lease round starts it again
            log.exception("watcher: account %s", pk)
            await self._failed(pk, None, f"internal error ({type(exc).__name__}): {exc}")
            return
        status = {}
        for folder in where.folders:
            marks = stored.get(folder) if isinstance(stored.get(folder), dict) else {}
            status[folder] = {"state": PushWatch.State.CONNECTING, "error": "",
                              "uidvalidity": marks.get("uidvalidity"),
                              "uidnext": marks.get("uidnext")}
        self.status[pk] = status
        try:
            await self._report(pk)
            await asyncio.gather(*(self.watch_folder(pk, folder) for folder in where.folders))
        finally:
            if self.status.get(pk) is status:
                del self.status[pk]

    async def watch_folder(self, pk: int, folder: str) -> None:
        backoff = BACKOFF_FIRST
        loop = asyncio.get_running_loop()
        while True:
            try:
                opened, where = await self._sign_in(pk, folder, loop)
                backoff = BACKOFF_FIRST
                await self._hold(pk, folder, opened, where)
            except asyncio.CancelledError:
                raise
            except (ProtocolError, SecretError, OSError) as exc:
                await self._failed(pk, folder, str(exc) or type(exc).__name__)
            except Exception as exc:  # an account must not take the watcher down
                log.exception("watcher: account %s, folder %s", pk, folder)
                await self._failed(pk, folder, f"internal error ({type(exc).__name__}): {exc}")
            else:
                continue  # a planned sign-in again (OAuth2 token renewal): at once
            delay = min(backoff, BACKOFF_MAX) * random.uniform(0.5, 1.5)
            backoff *= 2
            await asyncio.sleep(delay)

    async def _sign_in(self, pk: int, folder: str, loop):
        where = await self.db(plan.plan_for, pk)
        try:
            opened = await loop.run_in_executor(self._net, open_watch, where.params, folder)
        except SignInRefused:
            if where.params.sasl == "password":
                raise
            # A cached token the provider revoked: refresh once, as a fetch does.
            await self.db(plan.refresh_token, pk)
            where = await self.db(plan.plan_for, pk)
            opened = await loop.run_in_executor(self._net, open_watch, where.params, folder)
        return opened, where

    async def _hold(self, pk: int, folder: str, opened, where) -> None:
        mine = self.status[pk][folder]
        old_validity, old_next = mine["uidvalidity"], mine["uidnext"]
        moved = old_next is not None and (
            opened.uidvalidity != old_validity or (opened.uidnext or 0) > old_next)
        healthy = asyncio.Event()
        conn = IdleConnection(
            opened, where.host, reidle=plan.reidle_seconds(),
            noop=float(settings.POPADMIN_PUSH_NOOP_SECONDS),
            on_new_mail=lambda: self.push(pk), on_idle=healthy.set)
        try:
            mine.update(state=PushWatch.State.IDLE if opened.idle else PushWatch.State.NOOP,
                        error="", uidvalidity=opened.uidvalidity, uidnext=opened.uidnext)
            await self._report(pk, idle_supported=opened.idle)
            if moved:
                # Mail came while nobody watched (a restart, a takeover): fetch it now.
                self.push(pk)
            until = None if where.relogin_in is None else time.monotonic() + where.relogin_in
            await conn.hold(until)
        finally:
            await conn.logout()

    def _summary(self, pk: int) -> tuple[str, dict]:
        """The account's state over its folders, and what the row records of them."""
        status = self.status.get(pk, {})
        states = [each["state"] for each in status.values()]
        if PushWatch.State.FAILING in states:
            state = PushWatch.State.FAILING
        elif PushWatch.State.CONNECTING in states or not states:
            state = PushWatch.State.CONNECTING
        elif PushWatch.State.NOOP in states:
            state = PushWatch.State.NOOP
        else:
            state = PushWatch.State.IDLE
        connected = sum(s in (PushWatch.State.IDLE, PushWatch.State.NOOP) for s in states)
        return state, {"connected": connected,
                       "folders": {name: dict(each) for name, each in status.items()}}

    async def _report(self, pk: int, **fields) -> None:
        state, recorded = self._summary(pk)
        await self.db(leases.report, self.name, pk, state, **recorded, **fields)

    async def _failed(self, pk: int, folder: str | None, error: str) -> None:
        status = self.status.get(pk, {})
        if folder is not None and len(status) > 1:
            error = f"{folder}: {error}"
        log.warning("watcher: account %s: %s", pk, error)
        if folder in status:
            status[folder].update(state=PushWatch.State.FAILING, error=error)
        _, recorded = self._summary(pk)
        if not status:
            recorded = {}
        try:
            await self.db(leases.count_reconnect, self.name, pk, error, **recorded)
        except Exception:
            log.exception("watcher: could not record the failure of account %s", pk)

    def push(self, pk: int) -> None:
        """The server reported new mail: hand the account to the dispatcher."""
        self.pushes += 1
        task = asyncio.create_task(self._notify(pk, timezone.now()))
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def _notify(self, pk: int, seen) -> None:
        try:
            outcome = await self.db(push.notify, pk, seen)
            log.info("watcher: new mail for account %s: %s", pk, outcome)
        except Exception:
            log.exception("watcher: could not hand account %s to the dispatcher", pk)


def run_forever(name: str | None = None) -> None:
    """`manage.py watch`: until SIGTERM or SIGINT, then let go of every account."""

    async def main():
        watcher = Watcher(name)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, watcher.stopping.set)
        await watcher.run()

    asyncio.run(main())
