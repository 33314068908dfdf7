"""Global retrieval settings (one record) and per-user overrides, in the
admin and in the values the engine actually uses."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from delivery.recipients import DEFAULT_HEADER_FIELDS
from retrieval.models import EffectiveSettings, GlobalSettings, RemoteAccount, UserSettings
from retrieval.models.account import enabled_account_count
from retrieval.models.settings import OVERRIDABLE
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:retrieval_globalsettings_changelist"



def change_url(pk=1):
    return reverse("admin:retrieval_globalsettings_change", args=[pk])


def add_accounts(n, enabled=True):
    owner = make_mailbox()
    RemoteAccount.objects.bulk_create(
        RemoteAccount(owner=owner, host="pop.example.test", username=f"u{i}", enabled=enabled)
        for i in range(n)
    )


def shown_effective_maximum(admin_client) -> int:
    response = admin_client.get(change_url())
    assert response.status_code == 200
    found = re.search(
        r'field-effective_max_concurrent_display">.*?<div class="readonly">(\d+)</div>',
        response.content.decode(),
        re.S,
    )
    assert found, "effective maximum not on the page"
    return int(found.group(1))


def settings_form(**overrides) -> dict:
    data = {
        "service_running": "on",
        "max_concurrent_downloads": "0",
        "max_sessions_per_host": "3",
        "connection_retries": "3",
        "retry_seconds": "30",
        "timeout_seconds": "60",
        "messages_per_download": "0",
        "duplicate_check": "on",
        "poll_minutes": "10",
        "parse_headers": "on",
        "header_fields": '["Delivered-To", "To"]',
        "accepted_domains": "[]",
        "max_recipients": "50",
        "history_days": "90",
        "alert_after_minutes": "60",
        "alert_owners": "on",
        "alert_admins": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- one record -----------------------------------------------------------------


def test_it_sends_the_list_page_to_the_single_record(admin_client):
    assert not GlobalSettings.objects.exists()

    first = admin_client.get(reverse(CHANGELIST))
    second = admin_client.get(reverse(CHANGELIST))

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == change_url()
    assert GlobalSettings.objects.count() == 1
    assert GlobalSettings.objects.get().header_fields == DEFAULT_HEADER_FIELDS


def test_it_keeps_one_record_whatever_saves_it():
    GlobalSettings(poll_minutes=5).save()
    GlobalSettings(poll_minutes=7).save()

    assert GlobalSettings.objects.count() == 1
    assert GlobalSettings.load().poll_minutes == 7


def test_it_offers_no_add_once_the_record_exists(admin_client):
    GlobalSettings.load()

    response = admin_client.get(reverse("admin:retrieval_globalsettings_add"))

    assert response.status_code == 403
    assert GlobalSettings.objects.count() == 1


def test_it_cannot_delete_the_record(admin_client):
    GlobalSettings.load()
    delete_url = reverse("admin:retrieval_globalsettings_delete", args=[1])

    page = admin_client.get(change_url())
    asked = admin_client.get(delete_url)
    posted = admin_client.post(delete_url, {"post": "yes"})
    bulk = admin_client.post(reverse(CHANGELIST),
                             {"action": "delete_selected", "_selected_action": ["1"]})

    assert delete_url not in page.content.decode()
    assert asked.status_code == posted.status_code == 403
    assert bulk.status_code == 302
    assert GlobalSettings.objects.count() == 1


def test_it_saves_the_settings_from_the_change_page(admin_client):
    GlobalSettings.load()

    response = admin_client.post(
        change_url(),
        settings_form(max_concurrent_downloads="7", accepted_domains='[" Example.COM "]'),
    )

    assert response.status_code == 302
    saved = GlobalSettings.load()
    assert saved.max_concurrent_downloads == 7
    assert saved.accepted_domains == ["example.com"]
    assert saved.header_fields == ["Delivered-To", "To"]


def test_it_sets_the_recipient_cap_from_the_change_page(admin_client):
    GlobalSettings.load()

    response = admin_client.post(change_url(), settings_form(max_recipients="7"))

    assert response.status_code == 302
    assert GlobalSettings.load().max_recipients == 7


# --- staff without the rights ---------------------------------------------------


def staff_with(django_user_model, *codenames):
    user = django_user_model.objects.create_user("staff", password="staff pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_it_refuses_settings_to_staff_without_permission(client, django_user_model):
    client.force_login(staff_with(django_user_model))

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 403
    assert not GlobalSettings.objects.exists()  # refused before creating anything


def test_it_shows_settings_read_only_to_staff_with_view_permission(client, django_user_model):
    client.force_login(staff_with(django_user_model, "view_globalsettings"))

    listing = client.get(reverse(CHANGELIST))
    page = client.get(change_url())
    post = client.post(change_url(), settings_form(max_concurrent_downloads="7"))

    assert listing.status_code == 302 and listing["Location"] == change_url()
    assert page.status_code == 200
    assert 'name="max_concurrent_downloads"' not in page.content.decode()
    assert post.status_code == 403
    assert GlobalSettings.load().max_concurrent_downloads == 0


def test_it_needs_the_add_permission_to_create_the_record(client, django_user_model):
    client.force_login(staff_with(django_user_model, "change_globalsettings"))

    response = client.post(reverse("admin:retrieval_globalsettings_add"), settings_form())

    assert response.status_code == 403
    assert not GlobalSettings.objects.exists()


# --- effective maximum of concurrent downloads ------------------------------------


@pytest.mark.parametrize(
    ("configured", "accounts", "expected"),
    [(0, 5, 10), (0, 250, 25), (7, 250, 7)],
)
def test_it_shows_the_effective_maximum(admin_client, configured, accounts, expected):
    GlobalSettings(max_concurrent_downloads=configured).save()
    add_accounts(accounts)

    assert shown_effective_maximum(admin_client) == expected


@pytest.mark.parametrize(
    ("configured", "accounts", "expected"),
    [(0, 0, 10), (0, 5, 10), (0, 100, 10), (0, 101, 11), (0, 250, 25), (0, 1000, 100),
     (7, 250, 7), (1, 0, 1), (40, 5, 40)],
)
def test_it_computes_the_effective_maximum(configured, accounts, expected):
    settings = GlobalSettings(max_concurrent_downloads=configured)

    assert settings.effective_max_concurrent(accounts) == expected


def test_it_counts_only_enabled_accounts_for_the_maximum():
    add_accounts(250)
    add_accounts(300, enabled=False)

    assert GlobalSettings.load().effective_max_concurrent(enabled_account_count()) == 25


# --- per-user overrides ---------------------------------------------------------


def test_it_uses_the_global_values_without_user_settings():
    GlobalSettings(poll_minutes=15, timeout_seconds=90, duplicate_check=False).save()

    knobs = EffectiveSettings.for_mailbox(make_mailbox())

    gs = GlobalSettings.load()
    assert knobs == EffectiveSettings(**{name: getattr(gs, name) for name in OVERRIDABLE})


def test_it_takes_the_users_values_where_set_and_the_global_ones_elsewhere():
    GlobalSettings(connection_retries=3, retry_seconds=30, timeout_seconds=60,
                   messages_per_download=0, duplicate_check=True, poll_minutes=10).save()
    mailbox = make_mailbox()
    other = make_mailbox()
    # 0 and False are values, not "inherit".
    UserSettings.objects.create(mailbox=mailbox, poll_minutes=2, messages_per_download=0,
                                duplicate_check=False, connection_retries=5)
    GlobalSettings(connection_retries=3, retry_seconds=30, timeout_seconds=60,
                   messages_per_download=50, duplicate_check=True, poll_minutes=10).save()

    knobs = EffectiveSettings.for_mailbox(mailbox)

    assert knobs == EffectiveSettings(connection_retries=5, retry_seconds=30, timeout_seconds=60,
                                      messages_per_download=0, duplicate_check=False,
                                      poll_minutes=2)
    assert EffectiveSettings.for_mailbox(other).messages_per_download == 50


def test_it_edits_user_settings_inline_on_the_mailbox(admin_client):
    mailbox = make_mailbox(quota_mb=0)
    prefix = "retrieval_settings"

    response = admin_client.post(
        reverse("admin:accounts_mailbox_change", args=[mailbox.pk]),
        {
            "address": mailbox.address,
            "aliases": "[]",
            "quota_mb": "0",
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1",
            f"{prefix}-0-poll_minutes": "3",
            f"{prefix}-0-duplicate_check": "unknown",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    stored = UserSettings.objects.get(mailbox=mailbox)
    assert (stored.poll_minutes, stored.duplicate_check, stored.timeout_seconds) == (3, None, None)
    knobs = EffectiveSettings.for_mailbox(mailbox)
    assert (knobs.poll_minutes, knobs.timeout_seconds) == (3, GlobalSettings.load().timeout_seconds)
