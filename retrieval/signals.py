"""Web-login trigger: a login to the console checks the user's remote accounts.

Attached from retrieval (the upper layer), so accounts/ knows nothing of fetching.
"""

import logging

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

log = logging.getLogger(__name__)


@receiver(user_logged_in, dispatch_uid="retrieval.web_login_trigger")
def web_login_trigger(sender, request, user, **kwargs):
    from retrieval import triggers  # models are not ready when apps.py imports this module

    try:
        triggers.on_web_login(user)
    except Exception:
        # A login must never fail because the retrieval queue is unreachable;
        # the schedule still collects the mail.
        log.exception("web login trigger for user %s failed", user.pk)
