"""How often Test connection may log in somewhere: per person, and per remote login.

Each test sends a password to a mail server, so without a limit the form is a
password-guessing machine against any mailbox (and gets this server's address
blocked by providers, for every user). Tests are counted per person and per
remote login (host + username), whoever asks, in windows that open at the
first test, in Django's cache: Redis on the production stack, so every web
process counts together. Staff testing from the admin get a higher limit of
their own, never none. The numbers are settings (POPADMIN_PROBE_LIMIT_*);
docs/security/secrets-and-privileges.md lists them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext_lazy, ngettext


def refusal(user, account, staff: bool = False) -> str:
    """"" when `user` may test `account` now (the test is counted), else what to tell them."""
    if staff:
        wait = _spend(f"staff:{user.pk}", settings.POPADMIN_PROBE_LIMIT_STAFF)
    else:
        wait = _spend(f"user:{user.pk}", settings.POPADMIN_PROBE_LIMIT_USER)
    if not wait:
        login = f"{(account.host or '').strip().lower().rstrip('.')}\0{account.username}"
        digest = hashlib.sha256(login.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        wait = _spend(f"login:{digest}", settings.POPADMIN_PROBE_LIMIT_LOGIN)
    if not wait:
        return ""
    at = timezone.localtime() + dt.timedelta(seconds=wait)
    return ngettext("Too many connection tests: try again in %(count)s seconds (at %(at)s).",
                    "Too many connection tests: try again in %(count)s seconds (at %(at)s).",
                    wait) % {"count": wait, "at": f"{at:%H:%M:%S}"}


WHY = gettext_lazy("Each test logs in to the mail server, so tests are limited: this protects "
                   "the mailbox from password guessing, and this server from being blocked by "
                   "the provider.")


def _spend(name: str, limit: tuple[int, int]) -> int:
    """Count one test against `limit` (tests, seconds); seconds to wait if it is over.

    The window opens at the first test and lasts `seconds`; its end is stored, so every
    process counts in the same window and can say when it closes.
    """
    allowed, seconds = limit
    now = time.time()
    base = f"popadmin:probe:{name}:{seconds}"
    cache.add(f"{base}:until", now + seconds, timeout=seconds)
    until = cache.get(f"{base}:until") or now + seconds
    counter = f"{base}:{until:.6f}"
    cache.add(counter, 0, timeout=seconds + 5)
    try:
        used = cache.incr(counter)
    except ValueError:  # the window closed between add() and incr()
        cache.set(counter, 1, timeout=seconds + 5)
        used = 1
    if used <= allowed:
        return 0
    return max(1, math.ceil(until - now))
