"""Remote accounts: list, add, read, edit, delete; Check now and its progress."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from api import account_writes
from api.base import ApiListView, ApiView, installation, require_perm
from api.serializers import (
    AccountSerializer,
    AccountWriteSerializer,
    CheckSerializer,
    ProgressSerializer,
)
from popadmin import audit
from retrieval import dispatcher, triggers
from retrieval.account_card import account_card
from retrieval.models import RemoteAccount, Run
from retrieval.oauth.permissions import may_connect
from retrieval.views.access import require_manual_check
from retrieval.views.pages import run_progress


def readable(request):
    if installation(request):
        require_perm(request, "retrieval.view_remoteaccount", "retrieval.change_remoteaccount")
        return RemoteAccount.objects.all()
    return triggers.user_accounts(request.user)


def one(request, pk) -> RemoteAccount:
    """An account this request may read; anyone else's is simply not there (404)."""
    return get_object_or_404(readable(request).select_related("owner"), pk=pk)


class AccountList(ApiListView):
    serializer_class = AccountSerializer

    def get_queryset(self):
        return readable(self.request).select_related("owner").order_by("pk")

    @extend_schema(
        operation_id="accounts_list", summary="List remote accounts",
        responses=AccountSerializer(many=True))
    def get(self, request):
        return self.list_response(self.get_queryset(), AccountSerializer)

    @extend_schema(summary="Add a remote account", request=AccountWriteSerializer,
                   responses={201: AccountSerializer})
    def post(self, request):
        account = account_writes.save(request, RemoteAccount(), request.data)
        return Response(AccountSerializer(account, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class AccountDetail(ApiView):
    serializer_class = AccountSerializer

    @extend_schema(summary="Read a remote account, with its status")
    def get(self, request, pk):
        return Response(AccountSerializer(one(request, pk), context={"request": request}).data)

    @extend_schema(summary="Change a remote account (omitted fields keep their value)",
                   request=AccountWriteSerializer, responses=AccountSerializer)
    def patch(self, request, pk):
        account = account_writes.save(request, one(request, pk), request.data)
        return Response(AccountSerializer(account, context={"request": request}).data)

    @extend_schema(summary="Delete a remote account (mail already collected stays)",
                   responses={204: None})
    def delete(self, request, pk):
        account_writes.delete(request, one(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountCheck(ApiView):
    @extend_schema(summary="Check now", request=None, responses=CheckSerializer)
    def post(self, request, pk):
        account = one(request, pk)
        if installation(request):
            require_perm(request, "retrieval.change_remoteaccount")
            queued = dispatcher.request_check([account.pk], Run.Trigger.ADMIN)
        else:
            require_manual_check(request.user)
            queued = triggers.check_now([account])
        audit.record_check_now([account], queued, via="API")
        return Response({"queued": queued})


class AccountProgress(ApiView):
    @extend_schema(summary="Progress of the latest check (what the account's card shows)",
                   responses=ProgressSerializer)
    def get(self, request, pk):
        account = one(request, pk)
        body = run_progress(account.runs.order_by("-started").first())
        body["card"] = account_card(account, may_reconnect=may_connect(request.user, account))
        return Response(body)
