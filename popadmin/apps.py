from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _private_sqlite(sender, connection, **kwargs):
    # Covers the files Django creates itself (the test database, a fresh
    # install): the database holds sessions and encrypted secrets.
    if connection.vendor == "sqlite":
        from popadmin.filemodes import private_sqlite

        private_sqlite(connection.settings_dict["NAME"])


class PopadminConfig(AppConfig):
    name = "popadmin"

    def ready(self):
        from django.conf import settings

        from popadmin.filemodes import prepare_data_dirs

        prepare_data_dirs(settings)
        connection_created.connect(_private_sqlite, dispatch_uid="popadmin-private-sqlite")
        from popadmin import audit

        audit.register_models()
