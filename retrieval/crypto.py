"""Remote passwords, encrypted at rest with Fernet.

POPADMIN_ENCRYPTION_KEY holds one or more comma-separated Fernet keys (the
first encrypts; all decrypt, for rotation). When it is empty the key is
derived from SECRET_KEY with HKDF and a purpose label, so the Django signing
key is never used as-is for another purpose.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretError(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


def _derived_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"popadmin remote passwords")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


@lru_cache(maxsize=4)
def _fernet(configured: str, secret_key: str) -> MultiFernet:
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    if not keys:
        keys = [_derived_key(secret_key).decode()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(settings.POPADMIN_ENCRYPTION_KEY, settings.SECRET_KEY)


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
