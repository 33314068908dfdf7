"""The committed OpenAPI schema (api/openapi.yaml) is what the code generates: a change to
the API shows in review as a change to that file. After changing the API, regenerate it:

    python manage.py spectacular --file api/openapi.yaml
"""

import difflib
from pathlib import Path

from django.core.management import call_command

COMMITTED = Path(__file__).resolve().parent.parent / "api" / "openapi.yaml"


def test_the_committed_schema_is_current(tmp_path):
    fresh = tmp_path / "openapi.yaml"

    call_command("spectacular", file=str(fresh), validate=True, fail_on_warn=True)

    committed, generated = COMMITTED.read_text(), fresh.read_text()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True),
                                        "api/openapi.yaml (committed)", "generated"))
    assert not diff, ("The API changed but api/openapi.yaml did not; run "
                      "`python manage.py spectacular --file api/openapi.yaml`.\n" + diff)


def test_the_schema_describes_the_bearer_token_and_hides_the_password():
    text = COMMITTED.read_text()
    assert "scheme: bearer" in text
    assert "password_encrypted" not in text
