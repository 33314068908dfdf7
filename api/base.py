"""What every API view shares: bearer tokens, scopes, the rate limit and the audit trail.

A token without the whole-installation scope acts as its user on the user pages would:
their own mailbox and accounts, under their group's policy. A staff member's token with
that scope acts as they would in the admin, with their admin permissions.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.utils.cache import add_never_cache_headers
from rest_framework import permissions, throttling
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.views import APIView

from api.models import ApiToken

READ_ONLY = "This token is read-only: make a read-write token to change anything."
STAFF_ONLY = ("Only a staff member's token for the whole installation may do this.")


def installation(request) -> bool:
    """The request acts on the whole installation: a staff token of a staff member."""
    token = request.auth
    return isinstance(token, ApiToken) and token.staff and request.user.is_staff


def require_perm(request, *codenames: str):
    """A whole-installation request whose user has one of the admin permissions
    `codenames` ("app.action_model")."""
    if not installation(request):
        raise PermissionDenied(STAFF_ONLY)
    if not any(request.user.has_perm(codename) for codename in codenames):
        raise PermissionDenied(f"Your admin permissions do not include {codenames[0]}.")


class TokenScope(permissions.BasePermission):
    """A live token (api/authentication.py); writes only with a read-write one."""

    message = READ_ONLY

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiToken):
            return False
        return request.method in permissions.SAFE_METHODS or request.auth.writes


class TokenRateThrottle(throttling.SimpleRateThrottle):
    """So many requests per token per period (POPADMIN_API_RATE), counted in Django's cache:
    Redis on the production stack, so every web process counts together."""

    scope = "token"

    def get_rate(self):
        return settings.POPADMIN_API_RATE

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


# No docstrings on the view bases: the schema would give theirs to every operation.
class ApiMixin:
    # Bearer tokens, scopes and the rate limit. The audit trail finds the token's user
    # itself (popadmin.middleware.AuditMiddleware reads request.user when it writes).

    permission_classes = [TokenScope]
    throttle_classes = [TokenRateThrottle]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Answers hold addresses, servers and errors: never kept by a browser or a proxy
        # (the pages get this from NoStoreForSignedInMiddleware, which sees no token).
        add_never_cache_headers(response)
        return response

    def handle_exception(self, exc):
        if isinstance(exc, DjangoPermissionDenied):
            # The shared access checks raise Django's, with the reason in words: keep it.
            exc = PermissionDenied(str(exc) or None)
        return super().handle_exception(exc)


class ApiView(ApiMixin, APIView):
    pass


class ApiListView(ApiMixin, GenericAPIView):
    # A paginated list: ?page=N, ?page_size=N (api/pagination.py).

    def list_response(self, rows, serializer_class):
        page = self.paginate_queryset(rows)
        rows = serializer_class(page, many=True, context={"request": self.request}).data
        return self.get_paginated_response(rows)
