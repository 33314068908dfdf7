"""Pages met on the way in and on a wrong turn, in headless Chromium at 1366 px and
390 px: 403 and 404 say what happened and offer a way back; the two login pages
read as one product and point at each other; logging out says so; the site icon
exists (no 404 for it). Screenshots go to tests/artifacts/."""

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

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

PASSWORD = "wrong turns password"
INTRO = "popadmin collects mail from your other mailboxes (POP3 and IMAP) into this one."


@pytest.fixture(params=list(WIDTHS))
def page(request, tmp_path):
    width, height = WIDTHS[request.param]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport={"width": width, "height": height}).new_page()
            tab.popadmin_size = request.param
            with screenshot_on_failure(tab, tmp_path):
                yield tab
        finally:
            browser.close()


def shot(page, name):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{name} is {width} px wide"
    save_screenshot(page, f"{name}-{page.popadmin_size}")


def log_in(page, base, username):
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def test_a_missing_page_says_so_and_offers_a_way_back(page, live_server):
    response = page.goto(live_server.url + "/no/such/page/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page.locator(".why")).to_contain_text("/no/such/page/")
    expect(page.get_by_role("link", name="Log in to your mail")).to_be_visible()
    expect(page.get_by_role("link", name="Log in to the administration")).to_be_visible()
    shot(page, "error-404")
    page.get_by_role("link", name="Log in to your mail").click()
    expect(page.locator("#id_username")).to_be_visible()


def test_a_forbidden_page_says_why_and_where_to_go(page, live_server, django_user_model):
    plain = django_user_model.objects.create_user("plain", password=PASSWORD)
    staff = django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_remoteaccount"))
    assert plain.pk and staff.pk

    log_in(page, live_server.url, "plain")
    response = page.goto(live_server.url + "/dashboard/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("You may not open this page")
    expect(page.locator(".why")).to_contain_text("Staff only.")
    expect(page.get_by_role("link", name="Your mail")).to_be_visible()
    expect(page.get_by_role("link", name="The dashboard")).to_have_count(0)
    shot(page, "error-403")

    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server.url, "clerk")
    response = page.goto(live_server.url + "/history/runs/1/")
    assert response.status == 403
    expect(page.locator(".why")).to_contain_text("You may not view the retrieval history.")
    page.get_by_role("link", name="The dashboard").click()
    expect(page.locator("#dash-live")).to_be_visible()


def box_of(page):
    """Where the login box sits, its width, its style sheets and the header it carries."""
    return page.evaluate("""() => {
        const box = document.querySelector("main").getBoundingClientRect();
        return {left: Math.round(box.left), width: Math.round(box.width),
                sheets: [...document.styleSheets].map(s => s.href.split("/").pop()),
                brand: document.querySelector(".entry-brand")?.textContent,
                background: getComputedStyle(
                    document.querySelector(".entry-brand") || document.body).backgroundColor};
    }""")


def test_the_login_pages_share_one_look(page, live_server):
    page.goto(live_server.url + "/admin/login/")
    expect(page.locator("h1")).to_have_text("Log in to the administration")
    expect(page.locator("main")).to_contain_text(INTRO)
    admin_box = box_of(page)
    shot(page, "login-admin")
    page.get_by_role("link", name="Log in to your mail").click()
    expect(page.locator("h1")).to_have_text("Log in to your mail")
    expect(page.locator("main")).to_contain_text(INTRO)
    expect(page.get_by_role("link", name="Log in to the administration")).to_be_visible()
    user_box = box_of(page)
    shot(page, "login-user")
    assert admin_box == user_box
    assert admin_box["sheets"] == ["login.css"] and admin_box["brand"] == "popadmin"


def test_logging_out_of_the_user_pages_says_so(page, live_server, django_user_model):
    django_user_model.objects.create_user("reader", password=PASSWORD)
    log_in(page, live_server.url, "reader")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("h1")).to_have_text("You are logged out")
    expect(page.locator("main")).to_contain_text("You are logged out of your mail.")
    assert box_of(page)["sheets"] == ["login.css"]
    shot(page, "logged-out")
    page.get_by_role("link", name="Log in again").click()
    expect(page).to_have_url(live_server.url + "/accounts/login/")
    expect(page.locator("h1")).to_have_text("Log in to your mail")


def test_logging_out_of_the_administration_says_so(page, live_server, django_user_model):
    django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.locator("#logout-form button").click()
    expect(page.locator("h1")).to_have_text("You are logged out")
    expect(page.locator("main")).to_contain_text("popadmin administration")
    expect(page.get_by_role("link", name="Log in to your mail")).to_be_visible()
    assert box_of(page)["sheets"] == ["login.css"]
    shot(page, "logged-out-admin")
    page.get_by_role("link", name="Log in again").click()
    expect(page).to_have_url(live_server.url + "/admin/login/")
    expect(page.locator("#id_username")).to_be_visible()


def test_a_wrong_password_says_so_in_the_same_box(page, live_server, django_user_model):
    django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    for url in ("/admin/login/", "/accounts/login/"):
        page.goto(live_server.url + url)
        page.fill("#id_username", "root")
        page.fill("#id_password", "not it")
        page.click("[type=submit]")
        expect(page.locator(".entry-error")).to_be_visible()
    shot(page, "login-user-wrong-password")


def test_the_site_has_an_icon(page, live_server):
    seen = []
    page.on("response", lambda r: seen.append((r.status, r.url)))
    response = page.goto(live_server.url + "/favicon.ico")
    assert response.ok and "svg" in response.headers["content-type"]
    page.goto(live_server.url + "/admin/login/")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(live_server.url + icon).ok
    assert not [url for status, url in seen if status == 404]
