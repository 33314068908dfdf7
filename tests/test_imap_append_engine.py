"""Moving a whole old mailbox into another IMAP mailbox: the engine with an IMAP
APPEND target on a second Dovecot, folder mapping, and a crash after the APPEND."""

import pytest

from delivery.models import Delivery
from delivery.targets import target_for
from retrieval import engine
from retrieval.models import GlobalSettings, Run, SeenMessage
from tests.append_helpers import imap_target
from tests.factories import make_account, make_mailbox


@pytest.fixture
def dest(append_dovecot):
    user, password = append_dovecot.add_user()
    return append_dovecot, user, password


@pytest.mark.django_db
def test_folders_go_where_the_mapping_says_and_missing_ones_are_created(dovecot, mail_user, dest):
    server, user, password = dest
    dovecot.deliver_many(mail_user[0], 3)
    dovecot.deliver_many(mail_user[0], 2, folder="Spam")
    dovecot.deliver_many(mail_user[0], 1, folder="Lists")
    account = make_account(
        dovecot, *mail_user, protocol="imap", folders=["INBOX", "Spam", "Lists"],
        delivery_target=imap_target(server, user, password),
        folder_map={"INBOX": "Old ISP", "Spam": "Junk"}, target_folder="Old ISP/Other",
    )

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.status, run.delivered, run.failed) == (Run.Status.OK, 6, 0), (run.error, run.notes)
    assert len(server.messages(user, "Old ISP")) == 3
    assert len(server.messages(user, "Junk")) == 2
    assert len(server.messages(user, "Old ISP/Other")) == 1  # not mapped: the account's folder
    assert server.messages(user) == []
    rows = Delivery.objects.filter(run=run)
    assert sorted(rows.values_list("folder", flat=True)) == ["Junk"] * 2 + ["Old ISP"] * 3 + [
        "Old ISP/Other"]
    assert all(r.backend == "imap" and r.remote_uid.count("/") == 1 for r in rows)
    # Only now, every copy confirmed, is the source emptied.
    assert dovecot.messages(mail_user[0]) == [] and dovecot.messages(mail_user[0], "Spam") == []


@pytest.mark.django_db
def test_a_crash_after_the_append_does_not_make_a_second_copy(dovecot, mail_user, dest):
    server, user, password = dest
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(duplicate_check=False)
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user, protocol="imap", keep_policy="keep",
                           delivery_target=imap_target(server, user, password))
    assert engine.run_account(account.pk, Run.Trigger.MANUAL).delivered == 3
    # The window made certain: appended, but the session died before it wrote
    # the seen-state and the Delivery rows.
    SeenMessage.objects.filter(account=account).delete()
    Delivery.objects.all().delete()

    again = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (again.fetched, again.delivered, again.duplicates) == (3, 0, 3), again.notes
    assert sum("interrupted session" in note for note in again.notes) == 3
    assert len(server.messages(user)) == 3
    assert SeenMessage.objects.filter(account=account).count() == 3


@pytest.mark.django_db
def test_the_account_target_wins_over_the_mailbox_target_and_the_default(dest):
    server, user, password = dest
    default = imap_target(server, user, password, name="default", is_default=True)
    own = imap_target(server, user, password, name="mailbox's own")
    per_account = imap_target(server, user, password, name="account's")
    mailbox = make_mailbox()

    assert target_for(mailbox, default) == default
    mailbox.delivery_target = own
    assert target_for(mailbox, default) == own
    assert target_for(mailbox, default, per_account) == per_account
