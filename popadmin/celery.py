import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

import popadmin.broker  # noqa: F401  (registers the embedded broker's transport)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "popadmin.settings")

app = Celery("popadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _fresh_content_types(**kwargs):
    # A worker lives through `migrate` (and the tests' flushes), which can give
    # content types new ids; the audit trail's entries must not point at an old one.
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


@task_prerun.connect
@task_postrun.connect
def _reuse_database_connections(**kwargs):
    # What Django does around a request: drop a connection past CONN_MAX_AGE
    # or broken by an error, and health-check the kept one before its next
    # query (CONN_HEALTH_CHECKS). Kept connections save a server process and
    # a login per task (settings.CELERY_DB_REUSE_MAX).
    from django.db import close_old_connections

    close_old_connections()
