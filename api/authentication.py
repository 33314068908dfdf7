"""`Authorization: Bearer <token>` for Django REST framework (api/tokens.py)."""

from rest_framework import authentication, exceptions

from api import tokens


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Write the header as: Bearer <token>.")
        try:
            row = tokens.authenticate(parts[1].decode(errors="replace"))
        except tokens.TokenRefused as refused:
            raise exceptions.AuthenticationFailed(str(refused))
        return row.user, row

    def authenticate_header(self, request):
        # Makes an unauthenticated request a 401 with a challenge, not a 403.
        return f'{self.keyword} realm="api"'
