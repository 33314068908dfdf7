"""What push shows: the user's card says whether new mail arrives within seconds and why
not; the dashboard lists watched accounts, idle connections per server and reconnects;
/metrics has popadmin_idle_connections and popadmin_push_latency_seconds."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import GroupPolicy
from retrieval.models import PushLatency, PushWatch, PushWatcher, RemoteAccount
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_account(client):
    user = get_user_model().objects.create_user("pusher", password="pw-Push-1")
    mailbox = make_mailbox(user=user)
    account = RemoteAccount.objects.create(owner=mailbox, protocol="imap",
                                           host="imap.Example.test", username="u")
    client.force_login(user)
    return account


def watch(account, state, **fields):
    PushWatch.objects.update_or_create(account=account, defaults={
        "watcher": "w1", "until": timezone.now() + dt.timedelta(seconds=30), "state": state,
        **fields})


def page(client) -> str:
    response = client.get(reverse("mail-accounts"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_card_says_push_works_or_why_not(client, owner_account):
    assert "push: not running (no watcher is watching this account)" in page(client)
    watch(owner_account, PushWatch.State.IDLE)
    assert "push: new mail arrives within seconds" in page(client)
    watch(owner_account, PushWatch.State.NOOP, idle_supported=False)
    assert "push: the server has no IDLE" in page(client)
    watch(owner_account, PushWatch.State.LIMIT, watcher="")
    assert "limit of idle connections is reached" in page(client)
    watch(owner_account, PushWatch.State.FAILING, error="login refused by server: no")
    assert "push: not working (login refused by server: no)" in page(client)
    PushWatch.objects.all().delete()
    group = Group.objects.create(name="polled")
    GroupPolicy.objects.create(group=group, allow_push=False)
    owner_account.owner.user.groups.add(group)
    assert "push: off for your group" in page(client)
    RemoteAccount.objects.filter(pk=owner_account.pk).update(push=False)
    assert "push: off for this account" in page(client)


def test_a_pop3_card_says_nothing_of_push(client, owner_account):
    RemoteAccount.objects.filter(pk=owner_account.pk).update(protocol="pop3")
    assert "push:" not in page(client)


def test_the_dashboard_shows_watched_accounts_per_server_and_reconnects(admin_client,
                                                                        owner_account):
    PushWatcher.objects.create(name="w1", hostname="h", pid=1)
    watch(owner_account, PushWatch.State.IDLE, reconnects=4)
    html = admin_client.get(reverse("dashboard")).content.decode()
    assert "Push (IMAP IDLE)" in html
    assert "1 account watched by 1 watcher: 1 idle" in html
    assert "4 reconnects in all" in html
    assert "<td>imap.example.test</td><td>1</td><td>2000</td>" in html


def test_metrics_export_idle_connections_and_push_latency(admin_client, owner_account):
    watch(owner_account, PushWatch.State.IDLE)
    PushLatency.observe(0.7)
    PushLatency.observe(3.0)
    text = admin_client.get(reverse("metrics")).content.decode()
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(text) for s in family.samples}
    assert found[("popadmin_idle_connections", (("server", "imap.example.test"),))] == 1
    assert found[("popadmin_push_latency_seconds_bucket", (("le", "1.0"),))] == 1
    assert found[("popadmin_push_latency_seconds_bucket", (("le", "5.0"),))] == 2
    assert found[("popadmin_push_latency_seconds_count", ())] == 2
    assert found[("popadmin_push_latency_seconds_sum", ())] == pytest.approx(3.7)
