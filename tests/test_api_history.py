"""Runs, deliveries and alerts through the API: the owner sees their own, another user
none of them, staff everything with a staff token; the admin's filters (subject,
sender, Message-ID, account, time range) narrow the lists, a page at a time."""

import datetime as dt

import pytest
from django.utils import timezone

from delivery.models import Delivery
from retrieval.models import AlertEpisode, Run
from tests.api_helpers import call, expired_token, member, remote, superuser, token

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def run(account, hours_ago=0, **fields):
    fields.setdefault("status", "ok")
    return Run.objects.create(account=account, trigger="schedule",
                              started=NOW - dt.timedelta(hours=hours_ago),
                              account_label=str(account), **fields)


def delivery(run_row, hours_ago=0, **fields):
    fields.setdefault("message_id", "<m@example.test>")
    return Delivery.objects.create(mailbox=run_row.account.owner, run=run_row,
                                   message_key=fields["message_id"], result="delivered",
                                   created=NOW - dt.timedelta(hours=hours_ago), **fields)


@pytest.fixture
def world(django_user_model):
    owner, other = member(django_user_model, "owner"), member(django_user_model, "other")
    boss = superuser(django_user_model)
    mine, second = remote(owner), remote(owner, username="second")
    theirs = remote(other, username="carol")
    runs = {"old": run(mine, hours_ago=48), "new": run(mine, status="error", error="boom"),
            "second": run(second), "theirs": run(theirs)}
    deliveries = {
        "invoice": delivery(runs["new"], subject="Invoice 42", sender="Billing <b@shop.test>",
                            message_id="<inv42@shop.test>"),
        "old": delivery(runs["old"], hours_ago=48, subject="Old news",
                        sender="news@paper.test", message_id="<old@paper.test>"),
        "second": delivery(runs["second"], subject="From the second account",
                           message_id="<s@x.test>"),
        "theirs": delivery(runs["theirs"], subject="Invoice 43", message_id="<t@x.test>"),
    }
    return {"owner": owner, "other": other, "boss": boss, "mine": mine, "second": second,
            "runs": runs, "deliveries": deliveries}


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_runs_are_the_owners_own(client, world):
    runs = world["runs"]
    assert ids(call(client, "get", "/api/v1/runs/", token(world["owner"]))) == {
        runs["old"].pk, runs["new"].pk, runs["second"].pk}
    assert ids(call(client, "get", "/api/v1/runs/", token(world["other"]))) == {
        runs["theirs"].pk}
    assert ids(call(client, "get", "/api/v1/runs/", token(world["boss"], staff=True))) == {
        r.pk for r in runs.values()}
    one = f"/api/v1/runs/{runs['theirs'].pk}"
    assert call(client, "get", one, token(world["owner"])).status_code == 404
    assert call(client, "get", one, token(world["other"])).json()["account"] == (
        runs["theirs"].account_id)


def test_run_filters(client, world):
    runs, value = world["runs"], token(world["owner"])
    since = (NOW - dt.timedelta(hours=1)).isoformat()
    assert ids(call(client, "get", "/api/v1/runs/", value, data={"since": since})) == {
        runs["new"].pk, runs["second"].pk}
    assert ids(call(client, "get", "/api/v1/runs/", value,
                    data={"account": world["mine"].pk, "status": "error"})) == {runs["new"].pk}
    assert ids(call(client, "get", "/api/v1/runs/", value, data={"q": "boom"})) == {
        runs["new"].pk}
    bad = call(client, "get", "/api/v1/runs/", value, data={"since": "yesterday"})
    assert bad.status_code == 400
    assert "ISO 8601" in bad.json()["since"][0]


def test_deliveries_are_the_owners_own(client, world):
    found = world["deliveries"]
    assert ids(call(client, "get", "/api/v1/deliveries/", token(world["owner"]))) == {
        found["invoice"].pk, found["old"].pk, found["second"].pk}
    assert ids(call(client, "get", "/api/v1/deliveries/", token(world["other"]))) == {
        found["theirs"].pk}
    assert len(ids(call(client, "get", "/api/v1/deliveries/",
                        token(world["boss"], staff=True)))) == 4


@pytest.mark.parametrize(("query", "expected"), [
    ({"subject": "invoice"}, {"invoice"}),
    ({"sender": "billing"}, {"invoice"}),
    ({"message_id": "<old@paper.test>"}, {"old"}),
    ({"account": "second"}, {"second"}),
    ({"until": (NOW - dt.timedelta(hours=1)).isoformat()}, {"old"}),
    ({"since": (NOW - dt.timedelta(hours=1)).isoformat(), "subject": "invoice"}, {"invoice"}),
])
def test_delivery_filters(client, world, query, expected):
    if query.get("account") == "second":
        query = {"account": world["second"].pk}
    found = world["deliveries"]

    got = ids(call(client, "get", "/api/v1/deliveries/", token(world["owner"]), data=query))

    assert got == {found[name].pk for name in expected}


def test_lists_come_a_page_at_a_time(client, world):
    value = token(world["owner"])
    first = call(client, "get", "/api/v1/deliveries/", value, data={"page_size": 2}).json()
    second = call(client, "get", first["next"].split("testserver")[1], value).json()
    assert first["count"] == 3
    assert len(first["results"]) == 2 and len(second["results"]) == 1
    assert second["next"] is None


def test_alerts_are_for_staff(client, world):
    episode = AlertEpisode.objects.create(kind="failing", key="pop.example.test", opened=NOW,
                                          summary="2 accounts failing")
    closed = AlertEpisode.objects.create(kind="silent", key="worker", opened=NOW,
                                         closed=NOW)

    assert ids(call(client, "get", "/api/v1/alerts/", token(world["boss"], staff=True))) == {
        episode.pk, closed.pk}
    assert ids(call(client, "get", "/api/v1/alerts/", token(world["boss"], staff=True),
                    data={"open": "true"})) == {episode.pk}
    assert call(client, "get", "/api/v1/alerts/", token(world["owner"])).status_code == 403
    assert call(client, "get", "/api/v1/alerts/", token(world["boss"])).status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/runs/", "/api/v1/deliveries/", "/api/v1/alerts/"])
def test_nobody_without_a_live_token(client, world, path):
    for value in (None, token(world["owner"], revoked=True), expired_token(world["owner"])):
        assert call(client, "get", path, value).status_code == 401
