from django.apps import AppConfig


class RetrievalConfig(AppConfig):
    name = "retrieval"

    def ready(self):
        from retrieval import signals  # noqa: F401  (connects the web-login trigger)
        from retrieval.ops import heartbeat

        heartbeat.connect()
