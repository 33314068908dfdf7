"""Credentials: remote passwords encrypted at rest with Fernet, and what a
credential may contain. Shared by retrieval (mailbox logins) and delivery
(SMTP relay logins).

POPADMIN_ENCRYPTION_KEY holds one or more comma-separated Fernet keys (the
first encrypts; all decrypt, for rotation; `manage.py rotate_keys`
re-encrypts everything under the first). When it is empty the key is
derived from SECRET_KEY with HKDF and a purpose label, so the Django signing
key is never used as-is for another purpose.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ValidationError

FORBIDDEN_CREDENTIAL_CHARS = ("\r", "\n", "\0")


def validate_credential(value):
    # Any character works in a credential except those that end a protocol line.
    if any(ch in value for ch in FORBIDDEN_CREDENTIAL_CHARS):
        raise ValidationError("Carriage return, line feed and NUL are not allowed here.")


class SecretError(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


def _derived_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"popadmin remote passwords")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


@lru_cache(maxsize=4)
def _keys(configured: str, secret_key: str) -> tuple[Fernet, ...]:
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    # The SECRET_KEY-derived key always decrypts (last), so an install that
    # started without POPADMIN_ENCRYPTION_KEY can move to one: rotate_keys.
    derived = _derived_key(secret_key).decode()
    return tuple(Fernet(k.encode()) for k in dict.fromkeys([*keys, derived]))


def fernet() -> MultiFernet:
    return MultiFernet(_keys(settings.POPADMIN_ENCRYPTION_KEY, settings.SECRET_KEY))


def rotate(token: str) -> str | None:
    """The token re-encrypted under the first key, or None if it already is."""
    keys = _keys(settings.POPADMIN_ENCRYPTION_KEY, settings.SECRET_KEY)
    try:
        keys[0].decrypt(token.encode("ascii"))
        return None
    except (InvalidToken, ValueError):
        pass
    try:
        return MultiFernet(keys).rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError):
        raise SecretError("cannot be decrypted with any configured key")


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        raise SecretError(
            "the stored password cannot be decrypted: POPADMIN_ENCRYPTION_KEY changed? "
            "Enter the password again."
        )
