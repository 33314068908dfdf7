"""HTTP hardening: the settings the environment turns on (HSTS, SSL redirect, proxy header,
idle timeout), `check --deploy` clean in production, no caching of signed-in pages, and
the client address the throttle and the audit trail see."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import RequestFactory, override_settings
from django.urls import reverse

from popadmin.client_ip import client_ip
from tests.test_user_accounts_page import make_user

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "SECRET_KEY": "k3Qz-production-like-secret-8fJ2mN5pR7tV9wX1yZ4bC6dE0gH3jL5nP7qS9uW",
    "SECURE_COOKIES": "on",
    "ALLOWED_HOSTS": "mail.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://mail.example.com",
    "POPADMIN_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    "POPADMIN_LOGIN_FAILURE_LIMIT": "7",
    "POPADMIN_LOGIN_COOLOFF_MINUTES": "30",
    "POPADMIN_SESSION_IDLE_MINUTES": "20",
}
SHOWN = ["SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
         "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
         "SESSION_COOKIE_AGE", "SESSION_SAVE_EVERY_REQUEST", "AXES_FAILURE_LIMIT",
         "AXES_COOLOFF_TIME", "AXES_LOCKOUT_PARAMETERS"]


def run_django(args, env_overrides, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "DEBUG"))}
    env.update(env_overrides, POPADMIN_DATA_DIR=str(tmp_path))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def settings_under(env_overrides, tmp_path) -> dict:
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            f"print(json.dumps({{k: getattr(s, k, None) for k in {SHOWN!r}}}, default=str))")
    env = {"DJANGO_SETTINGS_MODULE": "popadmin.settings", **env_overrides}
    done = run_django(["-c", code], env, tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    done = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                      PRODUCTION_ENV, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_the_environment_turns_on_https_and_sets_the_limits(tmp_path):
    s = settings_under(PRODUCTION_ENV, tmp_path)
    assert s["SECURE_SSL_REDIRECT"] is True and s["SESSION_COOKIE_SECURE"] is True
    assert s["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600 and s["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert (s["SESSION_COOKIE_AGE"], s["SESSION_SAVE_EVERY_REQUEST"]) == (20 * 60, True)
    assert (s["AXES_FAILURE_LIMIT"], s["AXES_COOLOFF_TIME"]) == (7, "0:30:00")
    assert s["AXES_LOCKOUT_PARAMETERS"] == [["username", "ip_address"]]


def test_plain_http_stays_without_https_settings(tmp_path):
    s = settings_under({"SECRET_KEY": "dev"}, tmp_path)
    assert (s["SECURE_SSL_REDIRECT"], s["SECURE_HSTS_SECONDS"]) == (False, 0)
    assert s["SECURE_PROXY_SSL_HEADER"] is None
    assert s["SESSION_COOKIE_AGE"] == 60 * 60


HTTPS = {"SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 31536000,
         "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
         "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}


@pytest.mark.django_db
@override_settings(**HTTPS)
def test_http_is_redirected_and_https_gets_hsts(client):
    plain = client.get("/accounts/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    # A TLS-terminating proxy says so in its header.
    proxied = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200
    assert proxied["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.django_db
def test_every_page_carries_a_policy_without_inline_script(client):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe-inline" not in policy and directives["frame-ancestors"] == "'none'"


@pytest.mark.django_db
def test_signed_in_pages_are_not_stored(client, admin_client, django_user_model):
    client.force_login(make_user(django_user_model, "erin"))
    for response in (client.get(reverse("mail-accounts")),
                     admin_client.get(reverse("admin:retrieval_remoteaccount_changelist")),
                     admin_client.get(reverse("admin:accounts_mailbox_changelist"))):
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_a_session_ends_after_the_idle_time_and_not_while_in_use(
        client, django_user_model, settings):
    settings.SESSION_COOKIE_AGE = 2
    client.force_login(make_user(django_user_model, "frank"))
    for _ in range(4):  # busy for 4 s: each request starts the idle time again
        time.sleep(0.8)
        assert client.get(reverse("mail-accounts")).status_code == 200
    time.sleep(2.5)
    response = client.get(reverse("mail-accounts"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_client_address_is_the_peer_unless_a_proxy_header_is_configured(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5",
                                   HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.9")
    settings.POPADMIN_CLIENT_IP_HEADER = ""
    assert client_ip(request) == "10.0.0.5"  # a client's header is not believed
    settings.POPADMIN_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    assert client_ip(request) == "198.51.100.9"  # the entry our proxy appended
    garbage = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="nope")
    assert client_ip(garbage) == "10.0.0.5"
