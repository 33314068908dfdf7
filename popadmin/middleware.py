"""Middleware of popadmin's own: the audit trail's view of a request, and no caching of
signed-in pages."""

from auditlog.middleware import AuditlogMiddleware
from django.utils.cache import add_never_cache_headers
from django.utils.functional import SimpleLazyObject

from popadmin.client_ip import client_ip


class AuditMiddleware(AuditlogMiddleware):
    """django-auditlog's, with the client address taken the way the login throttle takes it:
    the stock one believes the first X-Forwarded-For entry, which any client can forge."""

    @staticmethod
    def _get_remote_addr(request):
        return client_ip(request)

    @staticmethod
    def _get_remote_port(request):
        return None

    @staticmethod
    def _get_actor(request):
        # Read when an entry is written, not when the request starts: the API knows its
        # user only once the view has checked the bearer token (Django REST framework
        # then sets request.user). An anonymous visitor is no actor.
        return SimpleLazyObject(lambda: request.user)


class NoStoreForSignedInMiddleware:
    """A page for a signed-in user (mailbox addresses, servers, errors) is never kept by the
    browser or a proxy: after logging out, Back must not show it again."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
