from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self):
        from auditlog.registry import auditlog

        from api.models import ApiToken

        # Creating and revoking a token is a change like any other; when it was last used
        # is not, and the digest says nothing a reader of the trail needs.
        auditlog.register(ApiToken, exclude_fields=["last_used", "digest"])
