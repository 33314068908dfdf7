"""The global retrieval settings (staff), validated by the admin's form."""

from django.forms import modelform_factory
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api import form_data
from api.base import ApiView, require_perm
from api.serializers import SettingsSerializer
from retrieval.admin.settings import GlobalSettingsAdmin, GlobalSettingsForm
from retrieval.models import GlobalSettings


def admin_fields() -> list[str]:
    """The fields the admin's settings page edits, in its order (not its read-only ones)."""
    names = []
    for _title, options in GlobalSettingsAdmin.fieldsets:
        for entry in options["fields"]:
            names.extend(entry if isinstance(entry, tuple) else [entry])
    return [n for n in names if n not in GlobalSettingsAdmin.readonly_fields]


class SettingsView(ApiView):
    serializer_class = SettingsSerializer

    @extend_schema(summary="Read the global settings (staff)")
    def get(self, request):
        require_perm(request, "retrieval.view_globalsettings", "retrieval.change_globalsettings")
        return Response(SettingsSerializer(GlobalSettings.load()).data)

    @extend_schema(summary="Change the global settings (staff; omitted fields keep their "
                           "value)", request=SettingsSerializer(partial=True))
    def patch(self, request):
        require_perm(request, "retrieval.change_globalsettings")
        form_class = modelform_factory(GlobalSettings, form=GlobalSettingsForm,
                                       fields=admin_fields())
        form = form_data.fill(form_class, GlobalSettings.load(), request.data)
        if not form.is_valid():
            raise ValidationError(form_data.errors(form))
        return Response(SettingsSerializer(form.save()).data)
