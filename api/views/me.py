from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from api.base import ApiView, installation
from api.serializers import TokenSerializer


class Me(ApiView):
    @extend_schema(summary="Who the token acts as, and its scope",
                   responses={200: TokenSerializer})
    def get(self, request):
        body = TokenSerializer(request.auth).data
        body.update(username=request.user.get_username(),
                    whole_installation=installation(request))
        return Response(body)
