import sys

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RetrievalConfig(AppConfig):
    name = "retrieval"
    verbose_name = _("Retrieval")

    def ready(self):
        from retrieval import signals  # noqa: F401  (connects the web-login trigger)

        if "popadmin.celery" in sys.modules:
            # A worker or beat: `celery -A popadmin` loads the app before Django.
            # Elsewhere (the web, commands) the app loads only to send a task,
            # and these hooks of a worker's life have nothing to hook into.
            from popadmin.celery import app
            from retrieval import worker_claims
            from retrieval.ops import heartbeat

            heartbeat.connect()
            worker_claims.connect(app)

        # An IMAP APPEND target signing in with OAuth2 gets its access token from the
        # grants kept here; delivery cannot import retrieval, so it is handed the function.
        from delivery import targets
        from retrieval.oauth.tokens import access_token_for, refresh_after_refusal

        targets.token_source = access_token_for
        targets.token_renewer = refresh_after_refusal
