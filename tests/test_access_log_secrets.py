"""The web server `manage.py up` starts never writes the OAuth2 callback's authorization
code to its access log: the real gunicorn command is run and asked for the callback."""

import io
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.core.management import call_command
from django.urls import reverse

from popadmin.access_log import PRIVATE_QUERY_PATHS
from popadmin.management.commands.up import Command

pytestmark = pytest.mark.django_db

CODE = "AuthCode-" + "q7" * 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_command_of_up(monkeypatch, bind) -> list[str]:
    started = {}
    monkeypatch.setattr(Command, "supervise", lambda self, commands: started.update(commands))
    umask = os.umask(0o022)
    try:
        call_command("up", "--bind", bind, stdout=io.StringIO())
    finally:
        os.umask(umask)  # `up` narrows it for its children; this process goes on testing
    return started["web"]


def serve_and_ask(command, bind, paths) -> str:
    web = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:  # the socket listens before a worker has loaded Django: wait for an answer
                requests.get(f"http://{bind}/healthz", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert time.monotonic() < deadline and web.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        for path in paths:
            requests.get(f"http://{bind}{path}", allow_redirects=False, timeout=10,
                         headers={"Referer": f"http://{bind}/oauth/callback?code={CODE}"})
    finally:
        web.terminate()
        out, _ = web.communicate(timeout=30)
    return out.decode(errors="replace")


def test_the_callbacks_code_never_reaches_the_access_log(monkeypatch):
    bind = f"127.0.0.1:{free_port()}"
    command = web_command_of_up(monkeypatch, bind)
    assert command[:3] == [sys.executable, "-m", "gunicorn"]

    log = serve_and_ask(command, bind, [f"/oauth/callback?code={CODE}&state=StateZx9",
                                        f"/oauth/callback/?state=s2&code={CODE}",
                                        "/mail/?page=2"])

    assert "GET /oauth/callback?[hidden] HTTP/1.1" in log, log
    assert CODE not in log and "StateZx9" not in log
    assert "GET /mail/?page=2 HTTP/1.1" in log  # other addresses are logged as they were


def test_the_hidden_path_is_the_callbacks_route():
    assert reverse("oauth-callback") in PRIVATE_QUERY_PATHS
