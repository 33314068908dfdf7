"""`up` installs the runtime dependencies only; the test command adds [dev]."""

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture
def bootstrap(tmp_path, monkeypatch):
    path = Path(__file__).resolve().parent.parent / "popadmin" / "bootstrap.py"
    spec = importlib.util.spec_from_file_location("popadmin_bootstrap_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "STAMP", tmp_path / "stamp")
    return module


def test_it_installs_no_extras_unless_asked(bootstrap, monkeypatch):
    monkeypatch.delenv("POPADMIN_EXTRAS", raising=False)
    assert bootstrap._wanted_extras() == []
    monkeypatch.setenv("POPADMIN_EXTRAS", "dev, ")
    assert bootstrap._wanted_extras() == ["dev"]


def test_it_reinstalls_when_an_extra_is_missing(bootstrap):
    digest = bootstrap._requirements_digest()
    bootstrap.STAMP.write_text(digest)
    assert bootstrap._installed([])
    assert not bootstrap._installed(["dev"])
    bootstrap.STAMP.write_text(f"{digest} dev")
    assert bootstrap._installed(["dev"])
    assert bootstrap._installed([])


def test_it_reinstalls_when_pyproject_changes(bootstrap):
    bootstrap.STAMP.write_text("0" * 64 + " dev")
    assert not bootstrap._installed([])
