"""Each delivery records From, Subject, Date and size, decoded and safe to store."""

import datetime as dt
import io

import pytest

from delivery.message import inspect
from delivery.models import Delivery
from retrieval import engine
from retrieval.models import Run
from tests.factories import make_account


def info_of(raw: bytes):
    return inspect(io.BytesIO(raw))


def test_it_decodes_encoded_words():
    info = info_of(b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.test>\n"
                   b"Subject: =?utf-8?b?R3LDvMOfZQ==?=\n"
                   b"Date: Tue, 3 Nov 2026 10:00:00 +0100\n\nx\n")

    assert info.sender == "Jürgen <j@example.test>"
    assert info.subject == "Grüße"
    assert info.date == dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("raw", [
    b"Subject: a\x00b\nDate: not a date\n\nx\n",
    b"Subject: =?bogus-charset?q?x?=\nDate: Mon, 99 Foo 99999 99:99:99\n\nx\n",
    b"Subject: =?utf-8?b?broken\nDate: Thu, 1 Jan 1970 00:00:00 +0000\n\nx\n",
    b"From: \xff\xfe\nSubject: " + b"x" * 5000 + b"\n\nx\n",
])
def test_it_never_raises_and_stores_clean_text(raw):
    info = info_of(raw)

    assert "\x00" not in info.subject and len(info.subject) <= 300
    assert info.date is None


@pytest.mark.django_db
def test_it_records_the_summary_on_each_delivery(dovecot, mail_user):
    dovecot.deliver(mail_user[0], b"From: Alice <alice@example.test>\n"
                                  b"Subject: Quarterly report\n"
                                  b"Date: Tue, 3 Nov 2026 10:00:00 +0000\n"
                                  b"Message-ID: <q@x>\n\nhi\n")
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    delivery = Delivery.objects.get(run=run)
    assert (delivery.sender, delivery.subject) == ("Alice <alice@example.test>", "Quarterly report")
    assert delivery.sent == dt.datetime(2026, 11, 3, 10, 0, tzinfo=dt.UTC)
    assert delivery.size > 0
