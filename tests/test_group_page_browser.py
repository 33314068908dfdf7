"""A group's admin page, in headless Chromium at 1366 px and 390 px: what the members
may do (the group's policy) comes right after the name, above the long permissions
picker, so an administrator sees it without scrolling past some 300 permissions."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import GroupPolicy
from tests.browser import (
    SCREENSHOTS,
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

PASSWORD = "group page password"


@pytest.fixture(params=list(WIDTHS))
def page(request, tmp_path, live_server, django_user_model):
    django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    width, height = WIDTHS[request.param]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport={"width": width, "height": height}).new_page()
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


def top(page, selector):
    return page.locator(selector).first.evaluate("e => e.getBoundingClientRect().top + scrollY")


def test_the_policy_comes_before_the_permissions(page, live_server):
    page.goto(live_server.url + reverse("admin:auth_group_add"))
    policy = page.locator("#id_policy-0-allow_manual_check")
    expect(policy).to_be_visible()
    picker = "#id_permissions_from, #id_permissions"
    first_box = "#id_policy-0-allow_manual_check"
    assert top(page, "#id_name") < top(page, first_box) < top(page, picker)
    if page.popadmin_size == "desktop":
        # The first policy box is on the first screen, without scrolling.
        assert top(page, "#id_policy-0-allow_manual_check") < page.viewport_size["height"]
    clipped = page.locator("#policy-group div.help").evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1"
        " || e.getBoundingClientRect().right"
        " > e.closest('.form-row').getBoundingClientRect().right + 1).map(e => e.textContent)")
    assert clipped == []
    save_screenshot(page, f"admin-group-add-{page.popadmin_size}")
    page.locator("#policy-group").screenshot(
        path=str(SCREENSHOTS / f"admin-group-policy-{page.popadmin_size}.png"))

    page.fill("#id_name", "Staff readers")
    policy.check()
    page.locator("#id_policy-0-may_manage_own_accounts").check()
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    group = Group.objects.get(name="Staff readers")
    saved = GroupPolicy.objects.get(group=group)
    assert saved.allow_manual_check and saved.may_manage_own_accounts

    page.goto(live_server.url + reverse("admin:auth_group_change", args=[group.pk]))
    expect(page.locator("#id_policy-0-allow_manual_check")).to_be_checked()
    assert top(page, "#id_policy-0-allow_manual_check") < top(page, picker)
    save_screenshot(page, f"admin-group-change-{page.popadmin_size}")
