"""The administrators' alert summary is written in the site's default language
(LANGUAGE_CODE), whatever language happens to be active where the evaluation runs:
it is stored on the episode and read by many."""

import datetime as dt

import pytest
from django.utils import timezone, translation

from retrieval import alerts
from retrieval.models import AlertEpisode, RemoteAccount
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def failing_account():
    return RemoteAccount.objects.create(
        owner=make_mailbox(), host="pop.example.org", username="u1",
        failing_since=NOW - dt.timedelta(hours=2), consecutive_failures=5,
        last_status="error", last_error="connection refused")


def test_a_german_site_writes_the_summaries_in_german(settings):
    settings.LANGUAGE_CODE = "de"
    failing_account()

    alerts.evaluate(now=NOW, heartbeats=[])

    summaries = dict(AlertEpisode.objects.values_list("key", "summary"))
    assert summaries["pop.example.org"].startswith("1 Konto auf pop.example.org schlägt fehl:")
    assert summaries["worker"] == "Noch nie wurde ein Worker gesehen."


def test_an_english_site_stays_english_under_another_active_language(settings):
    settings.LANGUAGE_CODE = "en"
    failing_account()

    with translation.override("de"):
        alerts.evaluate(now=NOW, heartbeats=[])

    summaries = dict(AlertEpisode.objects.values_list("key", "summary"))
    assert summaries["pop.example.org"].startswith("1 account(s) on pop.example.org failing:")
    assert summaries["beat"] == "No beat has been seen ever."
