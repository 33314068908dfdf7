"""The documentation site: every page is reachable from the navigation, and
every link from the README into docs/ leads to a page that exists."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def nav_pages(entries):
    for entry in entries:
        for value in (entry.values() if isinstance(entry, dict) else [entry]):
            if isinstance(value, list):
                yield from nav_pages(value)
            else:
                yield value


def mkdocs_nav():
    return list(nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]))


def test_it_puts_every_page_in_the_navigation():
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    nav = mkdocs_nav()

    assert sorted(pages - set(nav)) == [], "pages missing from the nav in mkdocs.yml"
    assert sorted(set(nav) - pages) == [], "nav entries without a page"
    assert len(nav) == len(set(nav)), "a page listed twice"


def test_every_readme_link_into_docs_exists():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\((docs/[^)#\s]+)(?:#[^)]*)?\)", readme)

    assert len(targets) >= 5, "the README should point into the docs"
    missing = [t for t in targets if not (ROOT / t).is_file()]
    assert missing == []
    pages = set(mkdocs_nav())
    off_nav = [t for t in targets if t.endswith(".md") and t.removeprefix("docs/") not in pages]
    assert off_nav == []


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 90
