# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""Signing in again ends the back-off that the expired sign-in caused: the account is due at
once instead of hours later."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval.models import RemoteAccount
from tests.factories import make_mailbox
from tests.oauth_helpers import oauth_server, provider, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_reconnect_makes_a_backed_off_account_due_now(admin_client, provider):
    account = RemoteAccount.objects.create(
        owner=make_mailbox(), host="imap.example.test", username="o2", auth_method="xoauth2",
        consecutive_failures=5, failing_since=timezone.now() - dt.timedelta(hours=3),
        next_check=timezone.now() + dt.timedelta(hours=4),
    )
    before = timezone.now()

    sign_in(admin_client, account, provider)

    account.refresh_from_db()
    assert (account.consecutive_failures, account.failing_since) == (0, None)
    assert before <= account.next_check <= timezone.now()
