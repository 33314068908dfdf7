"""Hourly totals: every finished session adds to its hour; charts survive run pruning."""

import datetime as dt

import pytest

from retrieval import engine
from retrieval.models import HourlyStats, Run
from retrieval.models.stats import floor_hour
from tests.factories import make_account

pytestmark = pytest.mark.django_db


def test_it_adds_sessions_of_one_hour_into_one_row():
    when = dt.datetime(2026, 11, 29, 14, 35, tzinfo=dt.UTC)
    HourlyStats.record(status="ok", when=when, messages=3, delivered=3, bytes=300, seconds=1.5)
    HourlyStats.record(status="error", when=when + dt.timedelta(minutes=20))
    HourlyStats.record(status="ok", when=when, empty=True)

    row = HourlyStats.objects.get()
    assert row.hour == dt.datetime(2026, 11, 29, 14, tzinfo=dt.UTC)
    assert (row.runs_ok, row.runs_error, row.empty_polls) == (2, 1, 1)
    assert (row.messages, row.delivered, row.bytes, row.seconds) == (3, 3, 300, 1.5)


def test_it_floors_to_the_utc_hour():
    plus_two = dt.timezone(dt.timedelta(hours=2))

    assert floor_hour(dt.datetime(2026, 1, 1, 1, 59, 59, tzinfo=plus_two)) == dt.datetime(
        2025, 12, 31, 23, tzinfo=dt.UTC)


def test_it_records_a_real_session(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)
    engine.run_account(account.pk, Run.Trigger.MANUAL)  # nothing new: an empty poll

    row = HourlyStats.objects.get()
    assert (row.runs_ok, row.messages, row.delivered, row.empty_polls) == (2, 2, 2, 1)
    assert row.bytes == run.bytes > 0
