"""`manage.py up --help` and the getting-started panel name the right docs pages:
the Markdown file by default, the built site's page when POPADMIN_DOCS_URL is set."""

from pathlib import Path

import pytest
from django.core.management import load_command_class
from django.urls import reverse

from popadmin.docs_links import docs_link

ROOT = Path(__file__).resolve().parent.parent
INDEX = reverse("admin:index")


def up_help():
    return load_command_class("popadmin", "up").create_parser("manage.py", "up").format_help()


def test_it_names_the_file_in_the_checkout_by_default(settings):
    settings.POPADMIN_DOCS_URL = ""
    link = docs_link("getting-started/first-account.md")
    assert (link.path, link.url, str(link)) == (
        "docs/getting-started/first-account.md", "", "docs/getting-started/first-account.md")


@pytest.mark.parametrize(("page", "url"), [
    ("getting-started/install.md", "https://docs.example.com/popadmin/getting-started/install/"),
    ("admin/index.md", "https://docs.example.com/popadmin/admin/"),
    ("index.md", "https://docs.example.com/popadmin/"),
])
def test_it_links_the_built_site_when_one_is_published(settings, page, url):
    settings.POPADMIN_DOCS_URL = "https://docs.example.com/popadmin/"
    assert docs_link(page).url == url


def test_up_help_names_existing_pages(settings):
    settings.POPADMIN_DOCS_URL = ""
    text = " ".join(up_help().split())  # argparse wraps the epilog

    for page in ["getting-started/install.md", "getting-started/first-account.md",
                 "operators/production.md", "reference/settings.md"]:
        assert f"docs/{page}" in text
        assert (ROOT / "docs" / page).is_file()


def test_up_help_links_the_published_site(settings):
    settings.POPADMIN_DOCS_URL = "https://docs.example.com"
    assert "https://docs.example.com/getting-started/install/" in " ".join(up_help().split())


@pytest.mark.django_db
def test_the_getting_started_panel_names_the_first_account_page(admin_client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.POPADMIN_DOCS_URL = ""
    body = admin_client.get(INDEX).content.decode()
    assert "<code>docs/getting-started/first-account.md</code>" in body
    assert (ROOT / "docs/getting-started/first-account.md").is_file()

    settings.POPADMIN_DOCS_URL = "https://docs.example.com"
    body = admin_client.get(INDEX).content.decode()
    assert '<a href="https://docs.example.com/getting-started/first-account/">' in body
