import os

from celery import Celery
from celery.signals import task_prerun

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
