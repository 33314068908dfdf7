"""IMAPSession.seen_uids: the \\Seen messages, as list_messages names them, changing nothing."""

from tests.test_imap_client import fetch, flags, login, other_client


def mark_seen(dovecot, mail_user, uids, folder="INBOX"):
    with other_client(dovecot, mail_user, folder) as imap:
        imap.uid("STORE", ",".join(map(str, uids)), "+FLAGS", "(\\Seen)")


def test_it_lists_the_seen_messages_of_each_folder(dovecot, mail_user):
    user = mail_user[0]
    dovecot.deliver_many(user, 4)
    dovecot.deliver_many(user, 2, folder="Lists")
    dovecot.deliver_many(user, 1, folder="Empty")
    mark_seen(dovecot, mail_user, [2, 4])
    mark_seen(dovecot, mail_user, [1], folder="Lists")
    session = login(dovecot, mail_user, folders=("INBOX", "Lists", "Empty"))
    try:
        listed = {m.uid for m in session.list_messages()}
        seen = session.seen_uids()
    finally:
        session.close()

    inbox, lists = session.uidvalidity["INBOX"], session.uidvalidity["Lists"]
    assert seen == [f"INBOX/{inbox}/2", f"INBOX/{inbox}/4", f"Lists/{lists}/1"]
    assert set(seen) <= listed


def test_an_empty_or_unread_folder_has_none(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    session = login(dovecot, mail_user)
    try:
        assert session.seen_uids() == []
    finally:
        session.close()


def test_it_changes_no_flag_and_the_session_can_still_fetch(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    mark_seen(dovecot, mail_user, [1])
    before = flags(dovecot, mail_user)
    session = login(dovecot, mail_user)
    try:
        session.seen_uids()
        # The folder was opened read-only: fetching must open it again, read-write.
        messages = session.list_messages()
        assert b"Subject: test message 2 of 2" in fetch(session, messages[1])
        session.delete(messages[1])
        session.commit()
    finally:
        session.close()

    assert flags(dovecot, mail_user) == before[:1]
