"""The watcher: one asyncio process holding an IDLE connection per watched folder (one per
account where the server offers NOTIFY).

Database work runs on one thread of its own (Django's ORM is synchronous),
sign-ins on a small pool (TLS handshakes and logins block); the held
connections themselves live on the event loop. Every third of the lease the
watcher renews its leases, drops accounts it no longer holds, sheds its
surplus over a fair share and claims free accounts (leases.py). New mail
(EXISTS, or a NOTIFY STATUS line) goes to the dispatcher (retrieval/push.py),
never to a fetch of its own: the watcher only ever EXAMINEs, or opens no
folder at all on a NOTIFY connection that watches all of an account's folders.
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
from retrieval.protocols.imap_idle import IdleConnection, open_notify, open_watch
from retrieval.protocols.imap_notify import NoNotify
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
        # Accounts watched on one NOTIFY connection for all their folders.
        self.single: set[int] = set()
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
        where = await self._plan(pk)
        if where is None:
            return  # the next lease round starts it again
        if where.one_connection:
            await self._watching(pk, where.folders, self.watch_notify(pk, where.folders),
                                 single=True)
            # The server has no NOTIFY (recorded): a connection per folder from now on.
            where = await self._plan(pk)
            if where is None:
                return
        await self._watching(pk, where.watched,
                             *(self.watch_folder(pk, folder) for folder in where.watched))

    async def _plan(self, pk: int):
        try:
            return await self.db(plan.plan_for, pk)
        except Exception as exc:
            log.exception("watcher: account %s", pk)
            await self._failed(pk, None, f"internal error ({type(exc).__name__}): {exc}")
            return None

    async def _watching(self, pk: int, folders: list[str], *connections,
                        single: bool = False) -> None:
        """Run the account's connections, with the record of each folder they watch."""
        try:
            stored = await self.db(leases.stored_folders, pk)
        except Exception:
            for each in connections:
                each.close()
            raise
        status = {}
        for folder in folders:
            marks = stored.get(folder) if isinstance(stored.get(folder), dict) else {}
            status[folder] = {"state": PushWatch.State.CONNECTING, "error": "",
                              "uidvalidity": marks.get("uidvalidity"),
                              "uidnext": marks.get("uidnext")}
        self.status[pk] = status
        if single:
            self.single.add(pk)
        else:
            self.single.discard(pk)
        try:
            await self._report(pk)
            await asyncio.gather(*connections)
        finally:
            if self.status.get(pk) is status:
                del self.status[pk]
                self.single.discard(pk)

    async def watch_notify(self, pk: int, folders: list[str]) -> None:
        """All folders on one connection (NOTIFY); returns when the server has none."""
        try:
            await self._keep(pk, None, folders, open_notify, partial(self._hold_notify, pk))
        except NoNotify as exc:
            log.info("watcher: account %s: %s; one connection per folder", pk, exc)
            await self.db(leases.report_notify, self.name, pk, False)

    async def _hold_notify(self, pk: int, opened, where) -> None:
        status = self.status[pk]
        moved = False
        for folder, each in status.items():
            validity, uidnext = opened.marks.get(folder, (None, None))
            if each["uidnext"] is not None and (
                    validity != each["uidvalidity"] or (uidnext or 0) > each["uidnext"]):
                moved = True
            each.update(state=PushWatch.State.IDLE if opened.idle else PushWatch.State.NOOP,
                        error="", uidvalidity=validity, uidnext=uidnext)
        await self._hold_connection(pk, opened, where, moved, notify_supported=True,
                                    connections=1)

    async def watch_folder(self, pk: int, folder: str) -> None:
        await self._keep(pk, folder, folder, open_watch, partial(self._hold, pk, folder))

    async def _keep(self, pk: int, folder: str | None, target, opener, hold) -> None:
        """Sign in and hold one connection until cancelled; after a failure, again with
        back-off. `folder` is the one it watches (None: all of the account's, NOTIFY)."""
        backoff = BACKOFF_FIRST
        loop = asyncio.get_running_loop()
        while True:
            try:
                opened, where = await self._sign_in(pk, target, loop, opener)
                backoff = BACKOFF_FIRST
                await hold(opened, where)
            except (asyncio.CancelledError, NoNotify):
                raise
            except (ProtocolError, SecretError, OSError) as exc:
                await self._failed(pk, folder, str(exc) or type(exc).__name__)
            except Exception as exc:  # an account must not take the watcher down
                log.exception("watcher: account %s", pk)
                await self._failed(pk, folder, f"internal error ({type(exc).__name__}): {exc}")
            else:
                continue  # a planned sign-in again (OAuth2 token renewal): at once
            delay = min(backoff, BACKOFF_MAX) * random.uniform(0.5, 1.5)
            backoff *= 2
            await asyncio.sleep(delay)

    async def _sign_in(self, pk: int, target, loop, opener):
        where = await self.db(plan.plan_for, pk)
        try:
            opened = await loop.run_in_executor(self._net, opener, where.params, target)
        except SignInRefused:
            if where.params.sasl == "password":
                raise
            # A cached token the provider revoked: refresh once, as a fetch does.
            await self.db(plan.refresh_token, pk)
            where = await self.db(plan.plan_for, pk)
            opened = await loop.run_in_executor(self._net, opener, where.params, target)
        return opened, where

    async def _hold(self, pk: int, folder: str, opened, where) -> None:
        mine = self.status[pk][folder]
        moved = mine["uidnext"] is not None and (
            opened.uidvalidity != mine["uidvalidity"] or (opened.uidnext or 0) > mine["uidnext"])
        mine.update(state=PushWatch.State.IDLE if opened.idle else PushWatch.State.NOOP,
                    error="", uidvalidity=opened.uidvalidity, uidnext=opened.uidnext)
        extra = {}
        if opened.notify_offered and len(where.folders) > 1 and where.notify is None:
            # One connection can watch them all: the next lease round moves it to NOTIFY.
            extra["notify_supported"] = True
        await self._hold_connection(pk, opened, where, moved, **extra)

    async def _hold_connection(self, pk: int, opened, where, moved: bool, **fields) -> None:
        healthy = asyncio.Event()
        conn = IdleConnection(
            opened, where.host, reidle=plan.reidle_seconds(),
            noop=float(settings.POPADMIN_PUSH_NOOP_SECONDS),
            on_new_mail=lambda: self.push(pk), on_idle=healthy.set)
        try:
            await self._report(pk, idle_supported=opened.idle, **fields)
            if "connections" in fields:
                # Fewer connections by the watcher's own doing: no reason to sign in again.
                self.signed_with[pk] = (await self.db(leases.fingerprints, [pk])).get(pk)
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
        if pk in self.single:
            connected = min(connected, 1)
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
        # A NOTIFY connection's failure is every folder's.
        for name in [folder] if folder is not None else (status if pk in self.single else ()):
            if name in status:
                status[name].update(state=PushWatch.State.FAILING, error=error)
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
