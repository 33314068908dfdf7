"""The API tokens page and the API docs page in headless Chromium, at 1366 and 390 px:
a token is made, shown once, and revoked; the docs page (Swagger UI from this site's own
files) renders under the strict Content-Security-Policy with no violation. Screenshots go
to $POPADMIN_SCREENSHOTS or tests/artifacts/."""

import pytest
from playwright.sync_api import expect

from api.models import ApiToken
from tests.api_helpers import member
from tests.browser import WIDTHS, launch_chromium, playwright_session, save_screenshot

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]


@pytest.fixture
def browser():
    with playwright_session() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser, size):
    width, height = WIDTHS[size]
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(15_000)
    reported = []
    page.on("console", lambda msg: reported.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: reported.append(f"pageerror: {exc}"))
    return page, reported


def violations(reported):
    return [m for m in reported
            if "Refused to" in m or "Content Security Policy" in m or m.startswith("pageerror")]


def assert_fits(page, width):
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"the page is {wide}px wide on a {width}px screen"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_token_is_made_shown_once_and_revoked(live_server, django_user_model, browser,
                                                 size):
    owner = member(django_user_model, "tokenuser")
    owner.set_password("browser password")
    owner.save()
    page, reported = new_page(browser, size)
    base = live_server.url

    page.goto(base + "/mail/tokens/")
    page.fill("#id_username", "tokenuser")
    page.fill("#id_password", "browser password")
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/mail/tokens/")
    expect(page.get_by_role("link", name="API tokens")).to_have_attribute("aria-current", "page")

    page.fill("#id_name", "nightly backup script")
    page.get_by_label("Read and write").check()
    page.select_option("#id_lifetime", "365")
    page.get_by_role("button", name="Make token").click()

    shown = page.locator("#token-value")
    expect(shown).to_be_visible()
    value = shown.input_value()
    row = ApiToken.objects.get(user=owner)
    assert value.startswith(row.prefix + "_") and row.writes
    expect(page.locator(f"#token-{row.pk}")).to_contain_text("read-write")
    assert_fits(page, WIDTHS[size][0])
    save_screenshot(page, f"api-token-made-{size}")

    page.goto(base + "/mail/tokens/")
    assert value not in page.content()
    expect(page.locator(f"#token-{row.pk}")).to_contain_text(row.prefix)

    page.locator(f"#token-{row.pk}").get_by_role("button", name="Revoke").click()
    expect(page.locator(".messages")).to_contain_text("revoked")
    expect(page.locator(f"#token-{row.pk} .token-state")).to_have_text("revoked")
    expect(page.locator(f"#token-{row.pk}").get_by_role("button", name="Revoke")).to_have_count(0)
    assert_fits(page, WIDTHS[size][0])
    save_screenshot(page, f"api-token-revoked-{size}")
    assert violations(reported) == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_docs_page_works_under_the_policy(live_server, browser, size):
    page, reported = new_page(browser, size)

    response = page.goto(live_server.url + "/api/v1/docs/")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("popadmin API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.locator("#operations-accounts-accounts_list .opblock-summary").click()
    expect(page.locator("#operations-accounts-accounts_list")).to_contain_text("Parameters")
    save_screenshot(page, f"api-docs-{size}")
    assert violations(reported) == []
