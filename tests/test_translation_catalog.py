"""The translation catalogs are complete, current and compiled (docs/reference/translations.md).

- `makemessages` over a copy of the source finds no msgid the committed
  catalog lacks, and the catalog keeps none the source no longer has;
- every entry is translated and none is fuzzy;
- each catalog passes `msgfmt --check` (placeholders, plural forms, header);
- the committed .mo says exactly what its .po says (`manage.py up` uses the
  .mo as committed: a fresh machine needs no gettext tools).
"""

import ast
import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# The exact commands docs/reference/translations.md gives for refreshing the catalogs.
MAKEMESSAGES = {
    "django": ["makemessages", "--no-location", "--no-obsolete", "--ignore=.venv",
               "--ignore=tests", "--ignore=bench", "--ignore=docs"],
    "djangojs": ["makemessages", "-d", "djangojs", "--no-location", "--no-obsolete",
                 "--ignore=.venv", "--ignore=tests", "--ignore=bench", "--ignore=*/admin/js/*"],
}
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != "en"]
DOMAINS = list(MAKEMESSAGES)


def entries(path: Path) -> list[dict]:
    """The catalog's entries: msgid, msgid_plural, msgstr(s), flags, obsolete."""
    found, current = [], None
    for raw in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        if not line:
            if current is not None:
                found.append(current)
            current = None
            continue
        if current is None or (line.startswith("msgid ") and current["strings"]):
            if current is not None:
                found.append(current)
            current = {"msgid": "", "msgid_plural": None, "strings": {}, "flags": "",
                       "obsolete": False, "_key": None}
        current["obsolete"] |= obsolete
        if line.startswith("#,"):
            current["flags"] += line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            _append(current, _unquote(line))
        else:
            key, _space, value = line.partition(" ")
            current["_key"] = key
            if key.startswith("msgstr"):
                current["strings"][key] = ""
            _append(current, _unquote(value))
    return [e for e in found if e["msgid"] or e["strings"].get("msgstr") is None]


def _unquote(text: str) -> str:
    # A .po string's escapes (\" \\ \n \t) read as a Python literal's.
    return ast.literal_eval(text) if text.startswith('"') else text


def _append(entry, text):
    key = entry["_key"]
    if key == "msgid":
        entry["msgid"] += text
    elif key == "msgid_plural":
        entry["msgid_plural"] = (entry["msgid_plural"] or "") + text
    elif key.startswith("msgstr"):
        entry["strings"][key] += text


def ids(path: Path) -> set:
    return {(e["msgid"], e["msgid_plural"]) for e in entries(path)
            if e["msgid"] and not e["obsolete"]}


def catalog(path: Path) -> Path:
    return ROOT / "locale" / path


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """makemessages run over a copy of the source, the committed catalogs as its start."""
    if shutil.which("xgettext") is None or shutil.which("msgfmt") is None:
        pytest.fail("gettext's xgettext and msgfmt are needed (apt package gettext)")
    copy = tmp_path_factory.mktemp("source") / "popadmin"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "tests", "bench", "docs", "var", "__pycache__", "*.mo", "node_modules"))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "popadmin.settings", "PYTHONPATH": str(copy)}
    for args in MAKEMESSAGES.values():
        for language in LANGUAGES:
            subprocess.run([sys.executable, "-m", "django", *args, "-l", language], cwd=copy,
                           env=env, check=True, capture_output=True, timeout=300)
    return copy / "locale"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_it_has_every_string_the_source_marks_and_no_other(fresh, language, domain):
    name = Path(language) / "LC_MESSAGES" / f"{domain}.po"
    committed, current = ids(catalog(name)), ids(fresh / name)
    missing = sorted(current - committed, key=str)
    stale = sorted(committed - current, key=str)
    assert not missing, f"marked in the source, not in {name}: {missing[:20]}"
    assert not stale, f"in {name}, no longer in the source: {stale[:20]}"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated_and_none_is_fuzzy(language, domain):
    path = catalog(Path(language) / "LC_MESSAGES" / f"{domain}.po")
    found = [e for e in entries(path) if e["msgid"]]
    assert found, f"{path} has no entries"
    untranslated = [e["msgid"] for e in found if not all(e["strings"].values())]
    fuzzy = [e["msgid"] for e in found if "fuzzy" in e["flags"]]
    obsolete = [e["msgid"] for e in found if e["obsolete"]]
    assert not untranslated, f"untranslated in {path}: {untranslated[:20]}"
    assert not fuzzy, f"fuzzy in {path}: {fuzzy[:20]}"
    assert not obsolete, f"obsolete (#~) entries in {path}: {obsolete[:20]}"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_it_compiles_and_the_committed_mo_matches(language, domain, tmp_path):
    if shutil.which("msgfmt") is None:
        pytest.fail("gettext's msgfmt is needed (apt package gettext)")
    po = catalog(Path(language) / "LC_MESSAGES" / f"{domain}.po")
    compiled = tmp_path / f"{domain}.mo"
    checked = subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(po)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    with compiled.open("rb") as fresh_mo, po.with_suffix(".mo").open("rb") as committed_mo:
        fresh_catalog = gettext.GNUTranslations(fresh_mo)._catalog
        committed_catalog = gettext.GNUTranslations(committed_mo)._catalog
    # The header holds dates that differ run to run; every message must match.
    fresh_catalog.pop("", None)
    committed_catalog.pop("", None)
    assert committed_catalog == fresh_catalog, (
        f"{po.with_suffix('.mo')} is out of date: run manage.py compilemessages")
