"""An uploaded import between its preview and its confirmation, and running it.

The files stay on the server, in the session, encrypted with the remote
password key (they hold passwords): the confirm step carries only a one-time
token, so what is imported is exactly what was previewed, nothing in the
page can be altered to change it, and no password is ever sent back to the
browser.
"""

import json
import secrets

from django.utils.crypto import constant_time_compare

from popadmin.secrets import SecretError, decrypt, encrypt

from .sources import import_fetchmailrc, import_getmailrcs

SESSION_KEY = "popadmin_import"


def hold(session, job):
    """Keep the job for its confirmation (replacing any earlier one); returns its token."""
    token = secrets.token_urlsafe(24)
    session[SESSION_KEY] = {"token": token, "job": encrypt(json.dumps(job))}
    return token


def take(session, token):
    """The job held under `token`, once; None if there is none (used, replaced, expired)."""
    held = session.get(SESSION_KEY)
    if not held or not token or not constant_time_compare(held.get("token", ""), token):
        return None
    del session[SESSION_KEY]
    try:
        return json.loads(decrypt(held["job"]))
    except (SecretError, ValueError):  # the key changed since the preview
        return None


def run(job, dry_run):
    """The job's Report; raises MigrationError with nothing imported."""
    if job["kind"] == "fetchmail":
        name, text = job["rc"]
        return import_fetchmailrc(text, name, job["state"], job["owner"], dry_run,
                                  job["seen_from_server"])
    return import_getmailrcs([tuple(f) for f in job["files"]],
                             [tuple(s) for s in job["states"]], job["owner"], dry_run)
