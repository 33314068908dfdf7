"""Runs and deliveries with the admin's filters; alerts."""

from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from api import filters
from api.base import ApiListView, ApiView, installation, require_perm
from api.serializers import AlertSerializer, DeliverySerializer, RunSerializer
from delivery.models import Delivery
from retrieval.models import AlertEpisode, Run

RANGE = [
    OpenApiParameter("since", OpenApiTypes.DATETIME,
                     description="From this moment on (ISO 8601 date or date-time)."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Before this moment."),
    OpenApiParameter("account", OpenApiTypes.INT, description="A remote account's id."),
]


def runs_for(request):
    if installation(request):
        require_perm(request, "retrieval.view_run")
        return Run.objects.all()
    return Run.objects.filter(account__owner__user=request.user)


class RunList(ApiListView):
    serializer_class = RunSerializer

    @extend_schema(
        operation_id="runs_list", summary="Retrieval runs, newest first", parameters=[
        *RANGE,
        OpenApiParameter("status", description="running, ok, partial or error."),
        OpenApiParameter("trigger", description="schedule, manual, login, admin or command."),
        OpenApiParameter("q", description="Words in the account, server, user name, owner, "
                                          "worker or error (the admin's search)."),
    ])
    def get(self, request):
        rows = runs_for(request)
        params = request.query_params
        if (account := filters.number(params, "account")) is not None:
            rows = rows.filter(account_id=account)
        rows = filters.text(rows, params, "status", "status")
        rows = filters.text(rows, params, "trigger", "trigger")
        rows = filters.time_range(rows, params, "started")
        if q := params.get("q", "").strip():
            rows = rows.filter(search(q, ["account_label", "account__host", "account__username",
                                          "account__owner__address", "worker", "error"]))
        return self.list_response(rows.order_by("-started", "-pk"), RunSerializer)


class RunDetail(ApiView):
    serializer_class = RunSerializer

    @extend_schema(summary="One run")
    def get(self, request, pk):
        rows = runs_for(request)
        return Response(RunSerializer(get_object_or_404(rows, pk=pk)).data)


class DeliveryList(ApiListView):
    serializer_class = DeliverySerializer

    @extend_schema(
        operation_id="deliveries_list",
        summary="Deliveries (where did a message go?), newest first", parameters=[
        *RANGE,
        OpenApiParameter("subject", description="Part of the subject."),
        OpenApiParameter("sender", description="Part of the From header."),
        OpenApiParameter("message_id", description="The Message-ID, or part of it."),
        OpenApiParameter("recipient", description="Part of the recipient address."),
        OpenApiParameter("mailbox", description="The local mailbox's address."),
        OpenApiParameter("result", description="delivered, duplicate or failed."),
    ])
    def get(self, request):
        if installation(request):
            require_perm(request, "delivery.view_delivery")
            rows = Delivery.objects.all()
        else:
            rows = Delivery.objects.filter(mailbox__user=request.user)
        params = request.query_params
        if (account := filters.number(params, "account")) is not None:
            rows = rows.filter(run__account_id=account)
        rows = filters.text(rows, params, "subject", "subject__icontains")
        rows = filters.text(rows, params, "sender", "sender__icontains")
        rows = filters.text(rows, params, "message_id", "message_id__icontains")
        rows = filters.text(rows, params, "recipient", "recipient__icontains")
        rows = filters.text(rows, params, "mailbox", "mailbox__address__iexact")
        rows = filters.text(rows, params, "result", "result")
        rows = filters.time_range(rows, params, "created")
        rows = rows.select_related("mailbox", "run").order_by("-created", "-pk")
        return self.list_response(rows, DeliverySerializer)


class AlertList(ApiListView):
    serializer_class = AlertSerializer

    @extend_schema(
        operation_id="alerts_list", summary="Alert episodes, newest first (staff)", parameters=[
        OpenApiParameter("open", OpenApiTypes.BOOL, description="true: only those still open."),
    ])
    def get(self, request):
        require_perm(request, "retrieval.view_alertepisode")
        rows = AlertEpisode.objects.order_by("-opened", "-pk")
        if request.query_params.get("open", "").lower() in ("1", "true", "yes"):
            rows = rows.filter(closed__isnull=True)
        return self.list_response(rows, AlertSerializer)


def search(words: str, fields: list[str]):
    """The admin's search: every word in at least one of the fields."""
    condition = Q()
    for word in words.split():
        any_field = Q()
        for field in fields:
            any_field |= Q(**{f"{field}__icontains": word})
        condition &= any_field
    return condition
