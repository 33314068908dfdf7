import pytest

from tests.dovecot import Dovecot, DovecotError

_dovecot_startup = pytest.StashKey[float]()


@pytest.fixture(scope="session")
def dovecot(pytestconfig):
    """One real Dovecot (POP3/IMAP/LMTP, TLS with a throwaway CA) per session."""
    server = Dovecot()
    try:
        server.start()
    except DovecotError as e:
        # Fail, never skip: a missing server must not pass as a green run.
        pytest.fail(str(e), pytrace=False)
    pytestconfig.stash[_dovecot_startup] = server.startup_seconds
    yield server
    server.stop()


@pytest.fixture
def mail_user(dovecot):
    """A fresh (username, password) on the session's Dovecot."""
    return dovecot.add_user()


def pytest_terminal_summary(terminalreporter, config):
    seconds = config.stash.get(_dovecot_startup, None)
    if seconds is not None:
        terminalreporter.write_line(f"dovecot fixture started in {seconds:.2f} s")
