"""An uploaded import between its preview and its confirmation, and running it.

The files stay on the server, in a PendingImport row, encrypted with the
remote password key (they hold passwords). The staff member's session holds
only the one-time token, and the row only its digest: what is imported is
exactly what was previewed, nothing in the page can be altered to change it,
and no password is ever sent back to the browser. A newer preview replaces
the earlier one; a job not confirmed within EXPIRY is gone, and stale rows are
deleted whenever a preview is held or confirmed.
"""

import datetime as dt
import hashlib
import json
import secrets

from django.utils import timezone
from django.utils.crypto import constant_time_compare

from popadmin.secrets import SecretError, decrypt, encrypt
from retrieval.models import PendingImport

from .forms import MAX_UPLOAD_BYTES
from .sources import import_fetchmailrc, import_getmailrcs

SESSION_KEY = "popadmin_import"
EXPIRY = dt.timedelta(hours=1)
STORED_LIMIT = 3 * MAX_UPLOAD_BYTES


class TooLarge(Exception):
    """The job is over MAX_UPLOAD_BYTES (or STORED_LIMIT as JSON) and is not held."""


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def _size(value):
    """Bytes of the uploaded text in a job (file names and contents)."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogateescape"))
    if isinstance(value, list | tuple):
        return sum(map(_size, value))
    if isinstance(value, dict):
        return sum(map(_size, value.values()))
    return 0


def _clean_stale():
    PendingImport.objects.filter(created__lt=timezone.now() - EXPIRY).delete()


def hold(session, user, job):
    """Keep the job for its confirmation (replacing any earlier one); returns its token."""
    text = json.dumps(job)
    # The forms refuse a larger upload; this bounds what any caller stores. JSON
    # escapes bytes that are not UTF-8 six characters each, hence the second test.
    if _size(job) > MAX_UPLOAD_BYTES or len(text) > STORED_LIMIT:
        raise TooLarge()
    _clean_stale()
    earlier = session.get(SESSION_KEY)
    if isinstance(earlier, str):
        PendingImport.objects.filter(token_digest=_digest(earlier)).delete()
    token = secrets.token_urlsafe(24)
    PendingImport.objects.create(user=user, token_digest=_digest(token),
                                 job_encrypted=encrypt(text))
    session[SESSION_KEY] = token
    return token


def take(session, user, token):
    """The job held under `token`, once; None if there is none (used, replaced, expired)."""
    held = session.get(SESSION_KEY)
    if not isinstance(held, str) or not token or not constant_time_compare(held, token):
        return None
    del session[SESSION_KEY]
    _clean_stale()
    row = PendingImport.objects.filter(token_digest=_digest(token), user=user).first()
    # Deleting is the claim: of two confirmations at once, one gets the job.
    if row is None or not PendingImport.objects.filter(pk=row.pk).delete()[0]:
        return None
    try:
        return json.loads(decrypt(row.job_encrypted))
    except (SecretError, ValueError):  # the key changed since the preview
        return None


def run(job, dry_run, confirmed=False):
    """The job's Report; raises MigrationError with nothing imported.

    `confirmed`: the rewrites the person confirmed (service.migrate).
    """
    if job["kind"] == "fetchmail":
        name, text = job["rc"]
        return import_fetchmailrc(text, name, job["state"], job["owner"], dry_run,
                                  job["seen_from_server"], confirmed)
    return import_getmailrcs([tuple(f) for f in job["files"]],
                             [tuple(s) for s in job["states"]], job["owner"], dry_run, confirmed)
