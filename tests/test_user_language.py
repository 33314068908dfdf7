"""The language of the pages: the browser's Accept-Language, unless the user chose one on
their page (Mailbox.language), which also words the alert e-mails they get."""

import datetime as dt
import email

import pytest
from django.utils import timezone

from accounts.models import Mailbox
from popadmin.mailers import mailers_from_url
from retrieval import alerts
from retrieval.models import RemoteAccount
from tests.factories import make_mailbox
from tests.smtpserver import SmtpServer

pytestmark = pytest.mark.django_db

PASSWORD = "language test password"
GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9,en;q=0.5"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}


@pytest.fixture
def owner(client, django_user_model):
    user = django_user_model.objects.create_user("anna", password=PASSWORD)
    make_mailbox("anna@local.test", user=user)
    client.force_login(user)
    return user


def page(client, url="/mail/accounts/", **headers):
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response


def test_it_follows_the_browser_without_a_choice(client, owner):
    german = page(client, **GERMAN)
    assert "Externe Konten" in german.text and "Remote accounts" not in german.text
    assert german.headers["Content-Language"] == "de"
    assert '<html lang="de">' in german.text
    english = page(client, **ENGLISH)
    assert "Remote accounts" in english.text and "Externe Konten" not in english.text
    assert german.headers["Vary"].count("Accept-Language") == 1


def test_the_login_page_follows_the_browser(client):
    response = client.get("/accounts/login/", **GERMAN)
    assert "Bei Ihrer Mail anmelden" in response.text or "bei Ihrer Mail anmelden" in response.text
    assert "Benutzername" in response.text and "Username" not in response.text


def test_a_chosen_language_overrides_the_browser_and_is_kept(client, owner):
    response = client.post("/mail/language", {"language": "de"}, **ENGLISH)
    assert response.status_code == 302
    assert Mailbox.objects.get(user=owner).language == "de"
    shown = client.get(response.url, **ENGLISH)
    assert "Sprache gespeichert." in shown.text
    assert "Externe Konten" in shown.text and "Remote accounts" not in shown.text
    # Back to the browser's choice.
    client.post("/mail/language", {"language": ""}, **GERMAN)
    assert Mailbox.objects.get(user=owner).language == ""
    assert "Remote accounts" in page(client, **ENGLISH).text


def test_the_choice_form_offers_the_languages_and_shows_the_current_one(client, owner):
    Mailbox.objects.filter(user=owner).update(language="de")
    text = page(client, **ENGLISH).text
    assert 'id="language-form"' in text
    assert '<option value="de" selected>Deutsch</option>' in text
    assert '<option value="en">English</option>' in text


def test_an_unknown_language_is_refused(client, owner):
    client.post("/mail/language", {"language": "xx"})
    assert Mailbox.objects.get(user=owner).language == ""


def test_it_changes_only_the_signed_in_users_own_mailbox(client, owner, django_user_model):
    other = make_mailbox("other@local.test",
                         user=django_user_model.objects.create_user("other", password=PASSWORD))
    client.post("/mail/language", {"language": "de", "mailbox": other.pk})
    assert Mailbox.objects.get(pk=other.pk).language == ""
    assert Mailbox.objects.get(user=owner).language == "de"


def test_anonymous_cannot_set_a_language(client):
    response = client.post("/mail/language", {"language": "de"})
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_staff_without_a_mailbox_keep_the_browsers_language(client, django_user_model):
    staff = django_user_model.objects.create_user("ops", password=PASSWORD, is_staff=True)
    client.force_login(staff)
    response = client.post("/mail/language", {"language": "de"}, **ENGLISH)
    assert response.status_code == 302 and not Mailbox.objects.exists()
    assert "Dashboard" in client.get("/dashboard/", **GERMAN).text
    assert "Offene Alarme" in client.get("/dashboard/", **GERMAN).text


def test_only_post_sets_it(client, owner):
    assert client.get("/mail/language").status_code == 405


def test_an_owners_alert_mail_is_in_their_language(settings, django_user_model):
    now = timezone.now()
    with SmtpServer() as smtp:
        settings.MAILERS = mailers_from_url(f"smtp://127.0.0.1:{smtp.port}")
        settings.POPADMIN_ALERT_EMAILS = ["ops@ops.test"]
        german = make_mailbox("greta@local.test", language="de")
        english = make_mailbox("ed@local.test")
        for n, owner in enumerate([german, english]):
            RemoteAccount.objects.create(
                owner=owner, host="pop.example.org", username=f"u{n}",
                failing_since=now - dt.timedelta(hours=2), consecutive_failures=5,
                last_status="error", last_error="connection refused")
        alerts.evaluate(now=now)
        sent = {tuple(r.rcpt_tos): email.message_from_bytes(r.content) for r in smtp.received}
    to_greta, to_ed = sent[("greta@local.test",)], sent[("ed@local.test",)]
    assert "Konten auf pop.example.org fehlerhaft" in to_greta["Subject"]
    body = to_greta.get_payload(decode=True).decode()
    assert "Für folgende Konten wird keine Mail abgerufen:" in body
    assert "fehlerhaft seit" in body
    assert "accounts on pop.example.org failing" in to_ed["Subject"]
    assert "Mail is not being collected for:" in to_ed.get_payload(decode=True).decode()
    # The administrators' notice stays in the site's language.
    assert "failing" in sent[("ops@ops.test",)]["Subject"]


def test_the_scripts_catalog_is_in_the_pages_language(client):
    german = client.get("/jsi18n/", **GERMAN)
    assert german.status_code == 200 and "Rufe Ihre Konten ab" in german.text
    assert "Rufe Ihre Konten ab" not in client.get("/jsi18n/", **ENGLISH).text
