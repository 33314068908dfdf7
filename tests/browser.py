"""Shared pieces of the headless-Chromium tests (Debian's chromium, Playwright)."""

import contextlib
import os
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from popadmin.celery import app
from retrieval.dispatcher import INTERACTIVE_QUEUE, SCHEDULE_QUEUE
from tests.workers import CeleryProcess, process_env

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium's connections pile up
# against this machine's closed network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
# What a page shows often waits on a real worker, a heartbeat or a live
# refresh; on a loaded two-core machine that takes longer than Playwright's
# 5 s default. A page that never shows it still fails, only later.
expect.set_options(timeout=30_000)


@contextlib.contextmanager
def playwright_session():
    """Playwright's sync API, closing on the way out the database connections opened
    under it. The code inside runs in a context of its own (contextvars), where Django
    keeps connections apart from the test's; one left open keeps PostgreSQL from
    dropping the test database at the end of the session."""
    with sync_playwright() as pw:
        try:
            yield pw
        finally:
            connections.close_all()


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def allow_orm_beside_playwright():
    # Playwright's sync API keeps an asyncio loop running in the main thread,
    # so Django refuses ORM calls from this thread ("You cannot call this from
    # an async context") although nothing here is async. Allowed for the
    # module using it only, and restored after it.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ASYNC_UNSAFE, "true")
        yield


# Where browser tests save what they show; open these to judge the pages.
SCREENSHOTS = Path(os.environ.get("POPADMIN_SCREENSHOTS") or Path(__file__).parent / "artifacts")
WIDTHS = {"desktop": (1366, 900), "phone": (390, 844)}
# The same two, as Playwright's viewports.
WIDE, PHONE = ({"width": w, "height": h} for w, h in WIDTHS.values())


def save_screenshot(page, name: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def shots_at_both_widths(page, name: str, no_side_scroll: bool = False):
    """Screenshots `name`-1366 and `name`-390 of the page as it stands, back at
    the wide viewport after; `no_side_scroll`: the page must fit each width."""
    for viewport in (PHONE, WIDE):
        page.set_viewport_size(viewport)
        save_screenshot(page, f"{name}-{viewport['width']}")
        if no_side_scroll:
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def sign_in_admin(page, base: str, username: str, password: str):
    """Through the admin's own login form, as a member of staff does."""
    from django.urls import reverse
    from playwright.sync_api import expect

    page.goto(base + reverse("admin:login"))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)


def start_worker(django_db_blocker, tmp_path_factory, **env) -> CeleryProcess:
    """A real Celery worker on both queues, with these settings in its environment."""
    with django_db_blocker.unblock():
        app.control.purge()
        environment = process_env(**env)
        environment.pop(ASYNC_UNSAFE, None)  # the worker has no event loop to excuse
        return CeleryProcess("worker", tmp_path_factory.mktemp("worker"), env=environment,
                             queues=(SCHEDULE_QUEUE, INTERACTIVE_QUEUE)).start()


@pytest.fixture(scope="module")
def browser_worker(django_db_setup, django_db_blocker, tmp_path_factory, dovecot):
    """A real Celery worker on both queues, trusting the test Dovecot's CA."""
    proc = start_worker(django_db_blocker, tmp_path_factory, POPADMIN_CA_FILE=dovecot.ca_file)
    yield proc
    proc.stop()


@contextlib.contextmanager
def screenshot_on_failure(page, folder: Path, worker=None):
    try:
        yield
    except BaseException:
        shot = folder / "browser-failure.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
        log = f"\nworker log:\n{worker.log()[-3000:]}" if worker is not None else ""
        print(f"screenshot: {shot}\npage: {page.url}{log}")
        raise
