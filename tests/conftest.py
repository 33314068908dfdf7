import pytest

from tests.dovecot import Dovecot, serving

# Fixtures of the browser tests (opt-in: none is autouse).
pytest_plugins = ["tests.browser"]

_dovecot_startup = pytest.StashKey[float]()


@pytest.fixture(scope="session")
def dovecot(pytestconfig):
    """One real Dovecot (POP3/IMAP/LMTP, TLS with a throwaway CA) per session."""
    with serving(Dovecot()) as server:
        pytestconfig.stash[_dovecot_startup] = server.startup_seconds
        yield server


@pytest.fixture
def mail_user(dovecot):
    """A fresh (username, password) on the session's Dovecot."""
    return dovecot.add_user()


def pytest_terminal_summary(terminalreporter, config):
    seconds = config.stash.get(_dovecot_startup, None)
    if seconds is not None:
        terminalreporter.write_line(f"dovecot fixture started in {seconds:.2f} s")


@pytest.fixture(scope="session", autouse=True)
def admin_pages():
    # The tests act as the web site, which registers the admin's pages when it
    # loads its URLs (popadmin/urls.py); a test may use them before any URL.
    from django.contrib import admin

    admin.autodiscover()


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """One cheap hasher for the whole session: the real one costs about a
    second per user, and almost every web test logs someone in. The live
    server of the browser tests runs in this process and reads it too. A test
    that measures hashing overrides it with the `settings` fixture."""
    from django.test import override_settings

    # override_settings (not a plain assignment) sends setting_changed, which
    # clears the hasher cache Django keeps (get_hashers).
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def isolated_mail(tmp_path_factory):
    """Local Maildirs and spool in a fresh folder; workers inherit it (tests/workers.py)."""
    from django.conf import settings

    root = tmp_path_factory.mktemp("popadmin")
    root.chmod(0o755)
    settings.MAIL_ROOT = root / "mail"
    settings.SPOOL_DIR = root / "spool"
    return root


@pytest.fixture(autouse=True)
def trust_test_ca(request, settings):
    """Accounts on the test Dovecot verify its certificate against its throwaway CA."""
    if "dovecot" in request.fixturenames:
        settings.POPADMIN_CA_FILE = str(request.getfixturevalue("dovecot").ca_file)


@pytest.fixture(scope="module", autouse=True)
def leftover_processes():
    """No Celery worker or beat outlives the tests that started it: one left
    running consumes the next tests' tasks. Module-wide, so a module's shared
    worker (tests/browser.py) is stopped by its own fixture first."""
    yield
    from tests import workers

    left = list(workers.running)
    for proc in left:
        proc.stop()
    assert not left, f"left running: {[p.cmd[4:6] for p in left]}"


@pytest.fixture(autouse=True)
def own_cache_keys(settings):
    """Each test counts in its own corner of Django's cache (the Test connection limits), so
    one test's counts never reach the next, whose users SQLite may number alike; the cache
    itself (Redis, shared with the broker, or files) is never flushed."""
    import uuid

    settings.CACHES = {alias: {**conf, "KEY_PREFIX": uuid.uuid4().hex}
                       for alias, conf in settings.CACHES.items()}


@pytest.fixture(autouse=True)
def release_session_locks():
    """Session locks a test took and left held (retrieval.locks) go with it,
    so the next test's accounts, whose ids SQLite may reuse, start free."""
    yield
    from retrieval import locks

    locks.release_all()


@pytest.fixture(scope="session")
def append_dovecot():
    """A second, separate Dovecot: the destination of the IMAP APPEND target."""
    with serving(Dovecot()) as server:
        yield server


@pytest.fixture
def dispatch(django_capture_on_commit_callbacks):
    """A dispatcher tick with the enqueue recorded: returns the (pk, trigger)
    sent, in order (tests/test_dispatcher*.py)."""
    from retrieval import dispatcher

    def run():
        sent = []
        with django_capture_on_commit_callbacks(execute=True):
            dispatcher.dispatch(lambda pk, trigger: sent.append((pk, trigger)))
        return sent

    return run
