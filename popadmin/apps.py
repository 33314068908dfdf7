from django.apps import AppConfig


class PopadminConfig(AppConfig):
    name = "popadmin"

    def ready(self):
        from popadmin import audit

        audit.register_models()
