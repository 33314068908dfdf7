import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from retrieval.models import GlobalSettings

pytestmark = pytest.mark.django_db


def test_it_sets_up_and_prints_the_admin_login_once():
    first, second = io.StringIO(), io.StringIO()

    call_command("up", "--setup-only", stdout=first)
    call_command("up", "--setup-only", stdout=second)

    password = first.getvalue().split("password: ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert "password" not in second.getvalue()
    assert GlobalSettings.objects.count() == 1


def test_it_restarts_a_process_that_dies_and_gives_up_on_one_that_keeps_dying(monkeypatch):
    import sys

    from popadmin.management.commands.up import Command

    monkeypatch.setattr("time.sleep", lambda _s: None)
    monkeypatch.setattr("signal.signal", lambda *_args: None)  # keep pytest's handlers
    command = Command(stdout=io.StringIO(), stderr=io.StringIO())
    # A real child process that exits at once, every time it is started.
    with pytest.raises(SystemExit) as stopped:
        command.supervise({"worker": [sys.executable, "-c", "raise SystemExit(3)"]})

    log = command.stderr._out.getvalue()
    assert stopped.value.code == 1
    assert log.count("popadmin: restarting worker") == 4
    assert log.count("worker exited with 3") == 5


def test_it_prints_the_user_page_and_the_admin_urls():
    out = io.StringIO()

    call_command("up", "--setup-only", "--bind", "0.0.0.0:8080", stdout=out)

    text = out.getvalue()
    assert "users' mail page: http://0.0.0.0:8080/mail/" in text
    assert "administration:   http://0.0.0.0:8080/admin/" in text
