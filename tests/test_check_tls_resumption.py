"""Cheap checks resume the TLS session of their last connection to a server
(popadmin/net/tls_sessions.py), and /metrics says how often."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from popadmin.net import tls_sessions
from retrieval import check_batch
from retrieval.models import GlobalSettings, RemoteAccount
from tests.dovecot import Dovecot, serving
from tests.factories import make_account

pytestmark = pytest.mark.django_db(transaction=True)

# Dovecot's default runs each TLS connection in a login process of its own,
# whose ticket keys die with it, so nothing can be resumed; a server tuned
# for many logins ("high-performance mode") reuses login processes.
LOGIN_REUSE = "".join(
    f"service {name} {{\n  service_count = 0\n  process_min_avail = 1\n"
    f"  process_limit = 1\n}}\n" for name in ("pop3-login", "imap-login"))


@pytest.fixture(scope="module")
def dovecot():
    # Replaces the shared fixture in this module (and the CA it makes trusted).
    with serving(Dovecot(extra_config=LOGIN_REUSE)) as server:
        yield server


def check(*accounts):
    RemoteAccount.objects.filter(pk__in=[a.pk for a in accounts]).update(
        next_check=timezone.now() - dt.timedelta(seconds=5))
    return check_batch.check_batch([a.pk for a in accounts], enqueue=lambda *a: None)


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_the_second_check_of_a_server_resumes_its_session(dovecot, protocol):
    GlobalSettings.load()
    tls_sessions.forget_all()
    first = make_account(dovecot, *dovecot.add_user(), protocol=protocol)
    second = make_account(dovecot, *dovecot.add_user(), protocol=protocol)

    assert check(first).tls == {"full": 1}
    assert check(second).tls == {"resumed": 1}


def test_a_session_is_not_offered_under_another_trust_setting(dovecot):
    GlobalSettings.load()
    tls_sessions.forget_all()
    check(make_account(dovecot, *dovecot.add_user(), verify_tls=False))

    # Made without verification, it must not spare a verified connection its check.
    assert check(make_account(dovecot, *dovecot.add_user())).tls == {"full": 1}


def test_metrics_count_full_and_resumed_handshakes(dovecot, admin_client):
    GlobalSettings.load()
    tls_sessions.forget_all()
    for _ in range(3):
        check(make_account(dovecot, *dovecot.add_user()))

    text = admin_client.get(reverse("metrics")).content.decode()
    samples = {(s.name, tuple(s.labels.items())): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("popadmin_check_tls_handshakes_total", (("resumed", "false"),))] == 1
    assert samples[("popadmin_check_tls_handshakes_total", (("resumed", "true"),))] == 2
    assert samples[("popadmin_checks_total", ())] == 3
