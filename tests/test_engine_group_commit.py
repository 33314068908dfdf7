"""Group commit (retrieval/group_commit.py): a group's records in one go, then its deletion."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from popadmin.net.errors import ProtocolError
from retrieval import engine
from retrieval.models import Run, SeenMessage
from retrieval.protocols.pop3 import POP3Session
from tests.factories import local_messages, make_account, make_mailbox

pytestmark = pytest.mark.django_db


def test_it_writes_the_runs_counters_once_per_group_not_per_message(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 30)
    account = make_account(dovecot, *mail_user)

    with CaptureQueriesContext(connection) as queries:
        run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.fetched, run.delivered, run.deleted) == (30, 30, 30), run.error
    run_updates = [q for q in queries.captured_queries
                   if q["sql"].startswith('UPDATE "retrieval_run"')]
    assert len(run_updates) < 10
    run.refresh_from_db()
    assert (run.fetched, run.delivered, run.deleted) == (30, 30, 30)


def test_a_session_lost_after_the_groups_commit_deletes_next_time_without_fetching(
    dovecot, mail_user, monkeypatch
):
    dovecot.deliver_many(mail_user[0], 5)
    account = make_account(dovecot, *mail_user)

    def lost(self, msgs):
        self.close()
        raise ProtocolError("connection lost")

    with monkeypatch.context() as patch:
        patch.setattr(POP3Session, "delete_many", lost)
        first = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert first.status == Run.Status.ERROR and first.delivered == 5
    assert SeenMessage.objects.filter(account=account).count() == 5
    assert len(dovecot.messages(mail_user[0])) == 5
    again = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert (again.fetched, again.delivered, again.deleted) == (0, 0, 5), again.error
    assert len(local_messages(account.owner)) == 5
    assert dovecot.messages(mail_user[0]) == []


def test_copies_handed_to_a_mail_server_are_recorded_one_by_one(dovecot, mail_user, monkeypatch):
    # LMTP cannot be asked later whether it has a copy: its Delivery row must be
    # committed before the next message, not with the group.
    from delivery.models import DeliveryTarget
    from retrieval.group_commit import GroupCommit

    local = dovecot.add_user()[0]
    DeliveryTarget.objects.create(name="lmtp-one-by-one", kind="lmtp", host="127.0.0.1",
                                  port=dovecot.lmtp_port, recipient_form="localpart",
                                  is_default=True)
    owner = make_mailbox(f"{local}@example.test")
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user, owner=owner)
    commits = []
    real_commit = GroupCommit.commit
    monkeypatch.setattr(GroupCommit, "commit",
                        lambda self, session: (commits.append(1), real_commit(self, session)))

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK and run.delivered == 3, run.error
    assert len(commits) >= 3
