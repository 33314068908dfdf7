"""The Django admin, its modules loaded with the web site rather than at every set-up.

Django's own AdminConfig imports every app's admin module when Django sets up,
in every process: a worker or a cold `manage.py fetch` would load the admin's
pages, forms and views it never shows (a tenth of a fetch's start). Here they
load with the site's URLs (popadmin/urls.py calls admin.autodiscover()), and
with the system checks, which must see every registration to judge them.
"""

from django.contrib.admin.apps import SimpleAdminConfig
from django.contrib.admin.checks import check_admin_app, check_dependencies
from django.core import checks


def check_admin_registrations(app_configs, **kwargs):
    # The checks run in no set order: this one loads what it judges itself.
    from django.contrib import admin

    admin.autodiscover()
    return check_admin_app(app_configs, **kwargs)


class AdminConfig(SimpleAdminConfig):
    def ready(self):
        checks.register(check_dependencies, checks.Tags.admin)
        checks.register(check_admin_registrations, checks.Tags.admin)
