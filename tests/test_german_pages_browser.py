"""The main pages in German, in headless Chromium at 1366 px and 390 px: login, the mail
page, the accounts page, adding and editing an account, the dashboard, a remote
account's admin page with popadmin's additions, the API token page and the global
settings.

The browser asks for German (Accept-Language); each page's main element must show
the German words and none of the English ones the catalog translates, and nothing
may be wider than a phone's screen. Screenshots: tests/artifacts/german-*.png.
"""

import ast
import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from retrieval.models import RemoteAccount
from tests.browser import (
    SCREENSHOTS,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
)
from tests.factories import make_mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

PASSWORD = "german pages password"
VIEWPORTS = {"1366": {"width": 1366, "height": 900}, "390": {"width": 390, "height": 844}}
# Words that read the same in both languages, or that name the product, a protocol or a
# value typed by the test: their English is not left over.
SAME = {"popadmin", "Mail", "Server", "Host", "Port", "Status", "Dashboard", "OK", "ok",
        "Name", "Admin", "Worker", "Beat", "Version", "PID", "Detail", "Administrator?"}


def english_words() -> list[str]:
    """The English of every catalog entry German says otherwise: phrases of two words
    or more without placeholders, so a page's data (names, hosts) cannot match."""
    path = settings.BASE_DIR / "locale" / "de" / "LC_MESSAGES" / "django.po"
    text = path.read_text(encoding="utf-8")
    found = []
    for msgid, msgstr in re.findall(r'^msgid ("(?:[^"\\]|\\.)*")\nmsgstr ("(?:[^"\\]|\\.)*")',
                                    text, re.M):
        english, german = ast.literal_eval(msgid), ast.literal_eval(msgstr)
        if (english and german and english != german and "%" not in english
                and "{" not in english and len(english.split()) >= 2 and english not in SAME):
            found.append(english)
    return found


ENGLISH = english_words()
# Words that occur in English sentences and never in German ones: they catch a string
# nobody marked for translation, which the catalog cannot know about.
ENGLISH_ONLY = re.compile(r"\b(the|and|your|is|are|of|with|not|yet|this|will)\b")


def assert_german(page, *german, where="main"):
    region = page.locator(where).first
    for words in german:
        expect(region).to_contain_text(words)
    shown = region.inner_text()
    left = [e for e in ENGLISH if e in shown]
    assert not left, f"English left on {page.url}: {left}"
    # Paths, addresses and URLs are data, whatever words they hold.
    words = [re.sub(r"\S*[/@]\S*", "", line) for line in shown.splitlines()]
    unmarked = [line for line in words if ENGLISH_ONLY.search(line)]
    assert not unmarked, f"English (unmarked?) on {page.url}: {unmarked}"


def assert_fits(page, width):
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"{page.url} is {wide}px wide on a {width}px screen"


def shot(page, name, width):
    save_screenshot(page, f"german-{name}-{width}")


@pytest.fixture
def operator(django_user_model):
    """A superuser with a mailbox of their own: every page is theirs to see."""
    user = django_user_model.objects.create_superuser("greta", "greta@local.test", PASSWORD)
    mailbox = make_mailbox("greta@local.test", user=user)
    account = RemoteAccount.objects.create(
        owner=mailbox, name="Altes Postfach", host="pop.example.org", username="greta",
        last_status="error", last_error="connection refused", consecutive_failures=3)
    return user, account


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_the_main_pages_in_german(live_server, operator, width):
    _user, account = operator
    base, size = live_server.url, VIEWPORTS[width]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(viewport=size, locale="de-DE")
        page = context.new_page()
        page.set_default_timeout(15_000)
        with screenshot_on_failure(page, SCREENSHOTS):
            page.goto(base + "/accounts/login/")
            expect(page.locator("html")).to_have_attribute("lang", "de")
            assert_german(page, "Bei Ihrer Mail anmelden", "Benutzername", "Passwort",
                          "Anmelden")
            assert_fits(page, size["width"])
            shot(page, "login", width)
            page.fill("#id_username", "greta")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")

            expect(page).to_have_url(base + "/dashboard/")
            assert_german(page, "Dashboard", "Dienst", "Laufende Sitzungen", "Offene Alarme",
                          "Konten, die Aufmerksamkeit brauchen", where="#content")
            assert_fits(page, size["width"])
            shot(page, "dashboard", width)

            page.goto(base + "/mail/")
            assert_german(page, "Ordner und Konten", "Alle Mail",
                          "Von Ihren externen Konten ist noch nichts angekommen.")
            expect(page.get_by_role("button", name="Mail abrufen")).to_be_visible()
            assert_german(page, "Konten", "Abmelden", where="header")
            assert_fits(page, size["width"])
            shot(page, "mail", width)

            page.goto(base + "/mail/accounts/")
            card = page.locator(f"#account-{account.pk}")
            assert_german(page, "Externe Konten", "Letzter Abruf", "Nächster Abruf",
                          "Der Server hat die Verbindung auf diesem Port abgelehnt.",
                          "Sprache Ihrer Seiten und E-Mails")
            expect(card.get_by_role("button", name="Jetzt abrufen")).to_be_visible()
            assert_fits(page, size["width"])
            shot(page, "accounts", width)

            page.get_by_role("link", name="Konto hinzufügen").first.click()
            assert_german(page, "Konto hinzufügen", "Servereinstellungen suchen", "Abbrechen")
            assert_fits(page, size["width"])
            shot(page, "account-add", width)

            page.goto(base + f"/mail/accounts/{account.pk}/edit")
            assert_german(page, "bearbeiten", "Protokoll", "Sicherheit", "Benutzername",
                          "Verbindung testen", "Speichern", "Aufbewahrung")
            assert_fits(page, size["width"])
            shot(page, "account-edit", width)

            page.goto(base + f"/admin/retrieval/remoteaccount/{account.pk}/change/")
            assert_german(page, "externes Konto ändern", "Letzter Abruf", "Jetzt abrufen",
                          "Der Server hat die Verbindung auf diesem Port abgelehnt.",
                          "Erweitert", where="#content")
            assert_fits(page, size["width"])
            shot(page, "admin-account", width)
        context.close()
        browser.close()


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_the_token_page_and_the_global_settings_in_german(live_server, operator, width):
    base, size = live_server.url, VIEWPORTS[width]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(viewport=size, locale="de-DE")
        page = context.new_page()
        page.set_default_timeout(15_000)
        with screenshot_on_failure(page, SCREENSHOTS):
            page.goto(base + "/accounts/login/")
            page.fill("#id_username", "greta")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(base + "/dashboard/")

            page.goto(base + "/mail/tokens/")
            assert_german(page, "API-Tokens", "Token erstellen", "Ihre Tokens",
                          "Sie haben keine API-Tokens.", "Nur lesen: auflisten und lesen",
                          "Läuft ab nach", "Ganze Installation")
            page.fill("#id_name", "Sicherung")
            page.get_by_label("Lesen und schreiben", exact=False).check()
            page.get_by_role("button", name="Token erstellen").click()
            assert_german(page, "Token „Sicherung“ erstellt",
                          "Kopieren Sie es jetzt: Es wird nur dieses eine Mal angezeigt.",
                          "lesen und schreiben", "aktiv", "Widerrufen")
            assert_fits(page, size["width"])
            shot(page, "api-tokens", width)
            page.get_by_role("button", name="Widerrufen").click()
            assert_german(page, "widerrufen: es funktioniert nicht mehr.", "widerrufen")
            assert_fits(page, size["width"])

            page.goto(base + "/admin/retrieval/globalsettings/")
            assert_german(page, "Dienst", "Vertrauenswürdige Zertifikate",
                          "Die zusätzliche CA-Datei gilt für jede TLS-Verbindung",
                          "Verlauf und Warnungen", "Dienst läuft",
                          "Akzeptierte Empfängerdomänen", "Globale Abrufeinstellungen",
                          where="#content")
            expect(page.locator("#content")).not_to_contain_text("Global retrieval settings")
            assert_fits(page, size["width"])
            shot(page, "global-settings", width)
            # Turning the service off asks again, in German.
            page.locator("#id_service_running").uncheck()
            page.locator("input[name=_save]").click()
            assert_german(page, "Dieses Speichern hält den Mailabruf an",
                          "Ja, Mailabruf anhalten", where="#content")
            assert_fits(page, size["width"])
            shot(page, "global-settings-stop", width)
        context.close()
        browser.close()
