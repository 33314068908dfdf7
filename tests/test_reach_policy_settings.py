"""The allowed ports and the extra trusted CA file are global settings, with the
environment as their default."""

import pytest
from django.urls import reverse

from retrieval import network_reach
from retrieval.models import GlobalSettings
from retrieval.sessions import params_for
from tests.admin_helpers import make_remote

pytestmark = pytest.mark.django_db


def test_the_environment_is_the_default(settings):
    settings.POPADMIN_ALLOWED_PORTS = [995]
    settings.POPADMIN_CA_FILE = "/env/ca.pem"
    gs = GlobalSettings.load()
    assert network_reach.policy(gs).ports == frozenset({995})
    assert params_for(make_remote(), 5, gs).ca_file == "/env/ca.pem"


def test_the_global_settings_win(settings, dovecot):
    settings.POPADMIN_ALLOWED_PORTS = [995]
    gs = GlobalSettings.load()
    gs.allowed_ports, gs.ca_file = [993, 4995], str(dovecot.ca_file)
    gs.save()
    assert network_reach.policy(GlobalSettings.load()).ports == frozenset({993, 4995})
    assert params_for(make_remote(), 5).ca_file == str(dovecot.ca_file)


def test_they_are_set_on_the_global_settings_page(admin_client, dovecot):
    gs = GlobalSettings.load()
    url = reverse("admin:retrieval_globalsettings_change", args=[gs.pk])
    page = admin_client.get(url)
    data = {k: v for k, v in page.context["adminform"].form.initial.items() if v is not None}
    data.update({"header_fields": "", "accepted_domains": "", "allowed_internal_networks": "",
                 "allowed_ports": "995\n4995", "ca_file": str(dovecot.ca_file),
                 "service_running": "on", "duplicate_check": "on", "parse_headers": "on"})
    for name in ("alert_owners", "alert_admins", "reroute_unknown", "restrict_all_accounts"):
        data.pop(name, None)

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    gs.refresh_from_db()
    assert (gs.allowed_ports, gs.ca_file) == ([995, 4995], str(dovecot.ca_file))


def test_a_missing_or_bad_ca_file_is_refused(admin_client, tmp_path):
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    from retrieval.admin.settings import GlobalSettingsForm
    for path, words in ((str(tmp_path / "none.pem"), "No readable file"),
                        (str(not_pem), "is not a PEM file")):
        form = GlobalSettingsForm({"ca_file": path}, instance=GlobalSettings.load())
        form.is_valid()
        assert words in form.errors["ca_file"][0]
