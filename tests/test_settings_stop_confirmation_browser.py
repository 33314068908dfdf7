"""Turning "Service running" off in Global settings asks first, as the dashboard's Stop
does, in headless Chromium at 1366 px and 390 px, with and without scripts: the first
Save keeps the service on and says what stopping means; ticking "Yes, stop mail
collection" and saving again stops it. Other saves and turning it on ask nothing."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from retrieval.models import GlobalSettings
from tests.browser import (
    WIDTHS,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("fast_password_hashing", "allow_orm_beside_playwright"),
]

PASSWORD = "settings stop password"
VARIANTS = {"desktop": ("desktop", True), "phone": ("phone", True),
            "desktop-noscript": ("desktop", False)}


@pytest.fixture(params=list(VARIANTS))
def page(request, tmp_path, live_server, django_user_model):
    django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    size, scripts = VARIANTS[request.param]
    width, height = WIDTHS[size]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          java_script_enabled=scripts)
            tab = context.new_page()
            tab.popadmin_size = request.param
            with screenshot_on_failure(tab, tmp_path):
                tab.goto(live_server.url + "/admin/login/")
                tab.fill("#id_username", "root")
                tab.fill("#id_password", PASSWORD)
                tab.click("input[type=submit]")
                expect(tab.locator("#user-tools")).to_be_visible()
                yield tab
        finally:
            browser.close()


def settings_url(base):
    return base + reverse("admin:retrieval_globalsettings_change", args=[GlobalSettings.load().pk])


def test_turning_the_service_off_asks_first(page, live_server):
    page.goto(settings_url(live_server.url))
    expect(page.locator("#id_confirm_stop")).to_have_count(0)
    page.uncheck("#id_service_running")
    page.click("input[name=_save]")

    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".field-service_running .errorlist")).to_contain_text(
        "Saving this stops mail collection")
    assert GlobalSettings.load().service_running
    save_screenshot(page, f"admin-settings-stop-asks-{page.popadmin_size}")

    page.check("#id_confirm_stop")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert not GlobalSettings.load().service_running

    # Starting again, and saving while stopped, ask nothing.
    page.goto(settings_url(live_server.url))
    page.check("#id_service_running")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert GlobalSettings.load().service_running


def test_other_changes_save_without_asking(page, live_server):
    page.goto(settings_url(live_server.url))
    page.fill("#id_poll_minutes", "7")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    settings = GlobalSettings.load()
    assert settings.service_running and settings.poll_minutes == 7
