"""An import holds no transaction while it checks and hashes, yet stays all-or-nothing.

On SQLite every transaction is a write lock on the whole database, and
password hashing is slow on purpose: a web login meanwhile used to fail with
"database is locked". A hasher that probes the database from another
connection each time it runs makes this deterministic.
"""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher, get_hasher
from django.db import OperationalError, connection
from django.utils import timezone

from accounts.models import Mailbox
from retrieval import transfer

User = get_user_model()

PASSWORD = "Wobbly-Lantern-42"


class ProbingHasher(MD5PasswordHasher):
    """MD5, calling `probe` (set by the test) each time it hashes."""

    probe = None

    def encode(self, password, salt):
        if ProbingHasher.probe is not None:
            ProbingHasher.probe()
        return super().encode(password, salt)


@pytest.fixture
def hashing(settings):
    """Calls recorded by the hasher: (importer in a transaction?, the other connection's write)."""
    settings.PASSWORD_HASHERS = [f"{__name__}.ProbingHasher"]
    assert type(get_hasher()) is ProbingHasher
    calls = []
    yield calls
    ProbingHasher.probe = None


def in_another_connection(work):
    """Run `work` on a fresh connection in another thread; return None or its database error."""
    failure = []

    def run():
        try:
            if connection.vendor == "sqlite":
                # A web request would wait 30 s for the lock; a quarter second
                # proves the point without slowing the suite.
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA busy_timeout = 250")
            else:
                with connection.cursor() as cursor:
                    cursor.execute("SET lock_timeout = '250ms'")
            work()
        except OperationalError as e:
            failure.append(str(e))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return failure[0] if failure else None


def web_login(user_pk):
    """The write a web login makes."""
    return lambda: User.objects.filter(pk=user_pk).update(last_login=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_it_lets_another_connection_write_while_it_hashes(hashing):
    web_user = User.objects.create_user("webuser")
    old = User.objects.create_user("carol", password="Old-Carol-Pass-1")
    Mailbox.objects.create(address="carol@example.com", user=old)
    ProbingHasher.probe = lambda: hashing.append(
        (connection.in_atomic_block, in_another_connection(web_login(web_user.pk)))
    )
    doc = {
        "mailboxes": [
            {"address": f"user{i}@example.com", "username": f"user{i}", "password": PASSWORD}
            for i in range(3)
        ]
        + [{"address": "carol@example.com", "password": PASSWORD}]
    }

    counts = transfer.import_data(doc)

    assert counts["mailboxes"] == (3, 1)
    # Three new logins, and carol's old hash checked and her new one made.
    assert len(hashing) >= 5
    assert hashing == [(False, None)] * len(hashing)
    old.refresh_from_db()
    assert old.check_password(PASSWORD)
    assert User.objects.get(username="user2").check_password(PASSWORD)


@pytest.mark.django_db(transaction=True)
def test_it_imports_and_hashes_nothing_when_one_of_many_entries_is_bad(hashing):
    ProbingHasher.probe = lambda: hashing.append("hashed")
    mailboxes = [
        {"address": f"user{i}@example.com", "username": f"user{i}", "password": PASSWORD}
        for i in range(150)
    ]
    mailboxes[149]["quota_mb"] = -1

    with pytest.raises(transfer.TransferError) as excinfo:
        transfer.import_data({"mailboxes": mailboxes})

    assert excinfo.value.errors == ["mailboxes[149].quota_mb: must be at least 0"]
    assert hashing == []
    assert not Mailbox.objects.exists()
    assert not User.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_writes_nothing_when_a_login_is_made_staff_while_it_hashes(hashing):
    carol = User.objects.create_user("carol", password="Old-Carol-Pass-1")
    Mailbox.objects.create(address="carol@example.com", user=carol, quota_mb=5)

    def promote():
        hashing.append(in_another_connection(
            lambda: User.objects.filter(pk=carol.pk).update(is_staff=True)
        ))

    ProbingHasher.probe = promote
    doc = {
        "mailboxes": [
            {"address": "carol@example.com", "password": PASSWORD, "quota_mb": 50},
            {"address": "dave@example.com", "username": "dave", "password": PASSWORD},
        ]
    }

    with pytest.raises(transfer.TransferError) as excinfo:
        transfer.import_data(doc)

    assert hashing and hashing[0] is None  # the promotion went through
    assert excinfo.value.errors == [
        "user carol: the database changed while the file was imported; run the import again"
    ]
    carol.refresh_from_db()
    assert carol.is_staff and carol.check_password("Old-Carol-Pass-1")
    assert Mailbox.objects.get().quota_mb == 5
    assert not User.objects.filter(username="dave").exists()


@pytest.mark.django_db(transaction=True)
def test_it_hashes_and_writes_nothing_on_a_dry_run(hashing):
    ProbingHasher.probe = lambda: hashing.append("hashed")
    doc = {"mailboxes": [{"address": "a@example.com", "username": "a", "password": PASSWORD}]}

    assert transfer.import_data(doc, dry_run=True) == {"mailboxes": (1, 0), "accounts": (0, 0)}

    assert hashing == []
    assert not User.objects.exists()
