"""manage.py rotate_keys: every secret moves to the new key, and the old key can go."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from delivery.targets import DeliveryTarget
from popadmin import secrets
from retrieval.models import RemoteAccount
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def make_secrets():
    account = RemoteAccount(owner=make_mailbox(), host="pop.example.test", username="alice")
    account.set_password("remote pässword")
    account.save()
    target = DeliveryTarget(name="relay", kind="smtp", host="smtp.example.test",
                            username="relay-user")
    target.set_password("relay password")
    target.save()
    return account, target


def rotate() -> str:
    out = StringIO()
    call_command("rotate_keys", stdout=out)
    return out.getvalue()


def test_secrets_under_the_old_key_decrypt_with_only_the_new_key_after_rotation(settings):
    settings.POPADMIN_ENCRYPTION_KEY = OLD
    account, target = make_secrets()
    settings.POPADMIN_ENCRYPTION_KEY = f"{NEW},{OLD}"

    report = rotate()

    assert "retrieval.RemoteAccount.password_encrypted: 1 re-encrypted, 0 already" in report
    assert "delivery.DeliveryTarget.password_encrypted: 1 re-encrypted, 0 already" in report
    settings.POPADMIN_ENCRYPTION_KEY = NEW
    account.refresh_from_db()
    target.refresh_from_db()
    assert account.get_password() == "remote pässword"
    assert secrets.decrypt(target.password_encrypted) == "relay password"


def test_without_rotation_the_old_secrets_are_lost_once_the_old_key_goes(settings):
    settings.POPADMIN_ENCRYPTION_KEY = OLD
    account, _ = make_secrets()
    settings.POPADMIN_ENCRYPTION_KEY = NEW
    with pytest.raises(secrets.SecretError):
        account.get_password()


def test_it_is_safe_to_run_again(settings):
    settings.POPADMIN_ENCRYPTION_KEY = OLD
    account, _ = make_secrets()
    settings.POPADMIN_ENCRYPTION_KEY = f"{NEW},{OLD}"
    rotate()
    account.refresh_from_db()
    once = account.password_encrypted

    report = rotate()

    assert "RemoteAccount.password_encrypted: 0 re-encrypted, 1 already under" in report
    account.refresh_from_db()
    assert account.password_encrypted == once


def test_it_moves_secrets_off_the_secret_key_derived_key(settings):
    settings.POPADMIN_ENCRYPTION_KEY = ""
    account, _ = make_secrets()
    settings.POPADMIN_ENCRYPTION_KEY = NEW
    assert "1 re-encrypted" in rotate()
    settings.SECRET_KEY = "a different secret key"  # the derived key is gone too
    account.refresh_from_db()
    assert account.get_password() == "remote pässword"


def test_it_reports_secrets_no_key_can_read_and_leaves_them(settings):
    settings.POPADMIN_ENCRYPTION_KEY = Fernet.generate_key().decode()
    account, _ = make_secrets()
    lost = account.password_encrypted
    settings.POPADMIN_ENCRYPTION_KEY = NEW
    with pytest.raises(CommandError, match=r"2 secret\(s\) cannot be decrypted.*RemoteAccount"):
        rotate()
    account.refresh_from_db()
    assert account.password_encrypted == lost
