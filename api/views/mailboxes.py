"""Local mailboxes: a user reads their own; staff add, change and delete them as in the
admin (its MailboxForm, their admin permissions)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.admin import MailboxForm
from accounts.models import Mailbox
from api import form_data
from api.base import ApiListView, ApiView, installation, require_perm
from api.serializers import MailboxSerializer, MailboxWriteSerializer


def readable(request):
    if installation(request):
        require_perm(request, "accounts.view_mailbox", "accounts.change_mailbox")
        return Mailbox.objects.all()
    return Mailbox.objects.filter(user=request.user)


def save(request, mailbox: Mailbox) -> Mailbox:
    require_perm(request, f"accounts.{'change' if mailbox.pk else 'add'}_mailbox")
    form = form_data.fill(MailboxForm, mailbox, request.data)
    if not form.is_valid():
        raise ValidationError(form_data.errors(form))
    return form.save()


class MailboxList(ApiListView):
    serializer_class = MailboxSerializer

    @extend_schema(
        operation_id="mailboxes_list", summary="List mailboxes (a user's token: their own)",
                   responses=MailboxSerializer(many=True))
    def get(self, request):
        rows = readable(request).select_related("user").order_by("address")
        return self.list_response(rows, MailboxSerializer)

    @extend_schema(summary="Add a mailbox (staff)", request=MailboxWriteSerializer,
                   responses={201: MailboxSerializer})
    def post(self, request):
        mailbox = save(request, Mailbox())
        return Response(MailboxSerializer(mailbox).data, status=status.HTTP_201_CREATED)


class MailboxDetail(ApiView):
    serializer_class = MailboxSerializer

    @extend_schema(summary="Read a mailbox")
    def get(self, request, pk):
        return Response(MailboxSerializer(get_object_or_404(readable(request), pk=pk)).data)

    @extend_schema(summary="Change a mailbox (staff; omitted fields keep their value)",
                   request=MailboxWriteSerializer, responses=MailboxSerializer)
    def patch(self, request, pk):
        mailbox = save(request, get_object_or_404(readable(request), pk=pk))
        return Response(MailboxSerializer(mailbox).data)

    @extend_schema(summary="Delete a mailbox and its accounts (staff; the Maildir stays)",
                   responses={204: None})
    def delete(self, request, pk):
        mailbox = get_object_or_404(readable(request), pk=pk)
        require_perm(request, "accounts.delete_mailbox")
        mailbox.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
