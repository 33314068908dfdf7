"""The Maildir quota reads the Maildir++ maildirsize file (delivery/maildirsize.py)
instead of listing the mailbox: counted again when missing, unreadable, too long,
written for another quota or stale; one line appended per delivery; and the same
file Dovecot's quota plugin keeps, read and written by both."""

import imaplib
import io
import os
import smtplib
import ssl
import stat
import time

import pytest

from delivery import maildirsize
from delivery.backends import MaildirBackend, MaildirSettings, Recipient, trace_headers
from delivery.maildir import usage
from tests.dovecot import Dovecot, serving

MB = 1024 * 1024
MESSAGE = b"Subject: hi\nMessage-ID: <m@example.test>\n\nbody\n"


def store(root, address, quota=MB, message=MESSAGE, mode=0o700):
    backend = MaildirBackend(MaildirSettings(root, mode))
    [outcome] = backend.deliver(
        io.BytesIO(message), len(message), "", [Recipient(address, quota=quota)],
        lambda to: trace_headers("pop.example.test", to),
    )
    backend.flush()  # the copy is in place, and counted, once its group is flushed
    return outcome


def put(folder, sub, name, data=b"x"):
    (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / sub / name).write_bytes(data)


def home(tmp_path, local="ann"):
    path = tmp_path / "corp.test" / local
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def sizes(path):
    return path.joinpath("maildirsize").read_text()


def test_a_missing_file_is_counted_from_every_folder_and_written_private(tmp_path):
    box = home(tmp_path)
    put(box, "new", "1.host,S=1000")
    put(box / ".Work", "cur", "2.host,S=500:2,S")

    assert not maildirsize.would_exceed(box, MB, 100, mode=0o750)

    assert sizes(box) == f"{MB}S\n1500 2\n"
    assert stat.S_IMODE((box / "maildirsize").stat().st_mode) == 0o640
    assert list((box / "tmp").iterdir()) == []  # written there, then renamed


def test_each_delivery_appends_its_size_and_the_sum_matches_the_folders(tmp_path):
    box = tmp_path / "corp.test" / "ann"
    for _ in range(4):
        assert store(tmp_path, "ann@corp.test").status == "delivered"

    # The first delivery made the folders; the second counted the one message there.
    header, counted, *appended = sizes(box).splitlines()
    assert header == f"{MB}S" and counted.endswith(" 1") and len(appended) == 3
    assert maildirsize.parse((box / "maildirsize").read_bytes())["bytes"] == usage(box)[0]
    assert all(line.split() == [str(usage(box)[0] // 4), "1"] for line in appended)
    assert stat.S_IMODE((box / "maildirsize").stat().st_mode) == 0o600


def test_the_file_is_trusted_so_no_delivery_lists_the_mailbox(tmp_path):
    box = home(tmp_path)
    put(box, "cur", f"1.host,S={2 * MB}:2,S")  # a full mailbox the file does not know of
    (box / "maildirsize").write_text(f"{MB}S\n0 0\n")

    assert store(tmp_path, "ann@corp.test").status == "delivered"
    assert sizes(box).startswith(f"{MB}S\n0 0\n")


@pytest.mark.parametrize("text", [
    "1000S\n0 0\n",  # another quota
    f"{MB}S\n0 0\n12",  # a line still being written
    f"{MB}S\n0 zero\n",  # not numbers
    f"{MB}X\n0 0\n",  # not a quota definition
    f"{MB}S\n" + "100 1\n" * 1000,  # over 5120 bytes
])
def test_a_file_for_another_quota_unreadable_or_too_long_is_counted_again(tmp_path, text):
    box = home(tmp_path)
    put(box, "new", "1.host,S=4000")
    (box / "maildirsize").write_text(text)

    assert not maildirsize.would_exceed(box, MB, 10)

    assert sizes(box) == f"{MB}S\n4000 1\n"


def test_a_full_mailbox_is_refused_and_counted_again_only_once_the_file_is_stale(tmp_path):
    box = home(tmp_path)
    put(box, "new", "1.host,S=3000")
    # A reader that does not keep the file deleted the big message the file still counts.
    (box / "maildirsize").write_text(f"{MB}S\n{MB - 100} 1\n3000 1\n")

    outcome = store(tmp_path, "ann@corp.test")

    assert (outcome.status, outcome.mailbox_full) == ("temporary", True)
    assert outcome.detail == "ann@corp.test is over its 1 MB quota"
    assert list((box / "new").iterdir()) == [box / "new" / "1.host,S=3000"]
    assert sizes(box) == f"{MB}S\n{MB - 100} 1\n3000 1\n"

    old = time.time() - maildirsize.STALE_SECONDS - 60
    os.utime(box / "maildirsize", (old, old))
    assert store(tmp_path, "ann@corp.test").status == "delivered"
    assert sizes(box).startswith(f"{MB}S\n3000 1\n")


def test_a_mailbox_really_full_stays_refused_after_counting(tmp_path):
    box = home(tmp_path)
    put(box, "cur", f"1.host,S={MB - 10}:2,S")

    outcome = store(tmp_path, "ann@corp.test")

    assert (outcome.status, outcome.mailbox_full) == ("temporary", True)
    assert sizes(box) == f"{MB}S\n{MB - 10} 1\n"


def test_a_planted_link_is_replaced_never_written_through(tmp_path):
    box = home(tmp_path)
    outside = tmp_path / "outside"
    outside.write_text("not mail\n")
    (box / "maildirsize").symlink_to(outside)

    assert store(tmp_path, "ann@corp.test", quota=0).status == "delivered"  # appends: no
    assert outside.read_text() == "not mail\n"
    assert store(tmp_path, "ann@corp.test").status == "delivered"  # counts: replaces the link

    assert outside.read_text() == "not mail\n"
    assert not (box / "maildirsize").is_symlink()
    assert sizes(box).splitlines()[1] == f"{usage(box)[0] // 2} 1"


def test_without_a_quota_a_file_is_kept_up_to_date_but_never_made(tmp_path):
    box = home(tmp_path)
    store(tmp_path, "ann@corp.test", quota=0)
    assert not (box / "maildirsize").exists()

    (box / "maildirsize").write_text("5000S\n0 0\n")  # a mail server's, with its own quota
    store(tmp_path, "ann@corp.test", quota=0)

    assert sizes(box) == f"5000S\n0 0\n{usage(box)[0] // 2} 1\n"


# -- the same file, kept by a real Dovecot with the quota plugin ---------------

QUOTA_CONFIG = """
mail_plugins = $mail_plugins quota
protocol imap {
  mail_plugins = $mail_plugins imap_quota
}
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=1M:messages=50
}
"""


class QuotaDovecot(Dovecot):
    def _write_config(self):
        super()._write_config()
        with open(self.conf, "a") as f:
            f.write(QUOTA_CONFIG)


@pytest.fixture(scope="module")
def quota_dovecot():
    with serving(QuotaDovecot()) as server:
        yield server


def imap(dovecot, user, password):
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    client = imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=context)
    client.login(user, password)
    return client


def dovecot_storage_kb(client) -> int:
    typ, data = client.getquotaroot("INBOX")
    assert typ == "OK", data
    # [[b'"INBOX" "User quota"'], [b'"User quota" (STORAGE 3 1024 MESSAGE 2 50)']]
    words = data[1][0].decode().split("(")[1].rstrip(")").split()
    return int(words[words.index("STORAGE") + 1])


def test_a_file_dovecot_keeps_is_understood_and_dovecot_reads_our_lines(quota_dovecot):
    dovecot = quota_dovecot
    user, password = dovecot.add_user()
    with smtplib.LMTP(dovecot.host, dovecot.lmtp_port) as lmtp:
        for i in range(3):
            body = f"Subject: {i}\n\n".encode() + b"y" * 2000 * (i + 1) + b"\n"
            lmtp.sendmail("sender@example.test", [user], body)
    client = imap(dovecot, user, password)
    try:
        client.select("INBOX")
        client.store("1", "+FLAGS", "\\Deleted")
        client.expunge()  # Dovecot appends a negative line
        box = dovecot.maildir(user)
        written = (box / "maildirsize").read_bytes()
        assert written.startswith(f"{MB}S,50C\n".encode()) and b"\n-" in written, written

        # Dovecot's header, sums and negative line are read as they are: no recount.
        assert not maildirsize.would_exceed(box, MB, 100)
        assert (box / "maildirsize").read_bytes() == written
        assert maildirsize.parse(written)["bytes"] == usage(box)[0]
        assert maildirsize.parse(written)["messages"] == 2

        # A delivery of ours into the same mailbox, and Dovecot counts it.
        before = dovecot_storage_kb(client)
        big = b"Subject: big\n\n" + b"z" * 100_000 + b"\n"
        assert store(dovecot.root, f"{user}@mail", message=big).status == "delivered"
        assert maildirsize.parse((box / "maildirsize").read_bytes())["bytes"] == usage(box)[0]
        assert dovecot_storage_kb(client) - before in (98, 99, 100)
    finally:
        client.logout()


def test_a_group_counts_its_staged_copies_and_adds_one_line_for_them(tmp_path):
    # Copies staged in tmp/ are not in the folders yet: the quota still counts
    # them, and the group's flush adds them in one line.
    store(tmp_path, "ann@corp.test")  # makes the file: one copy
    box = tmp_path / "corp.test" / "ann"
    copy = usage(box)[0]
    backend = MaildirBackend(MaildirSettings(tmp_path, 0o700))
    quota = copy * 3 + len(MESSAGE) // 2  # room for two more copies, not three

    outcomes = [
        backend.deliver(io.BytesIO(MESSAGE), len(MESSAGE), "", [Recipient("ann@corp.test",
                        quota=quota)], lambda to: trace_headers("pop.example.test", to))[0]
        for _ in range(3)
    ]

    assert [o.status for o in outcomes] == ["delivered", "delivered", "temporary"]
    assert outcomes[2].mailbox_full
    backend.flush()
    assert sizes(box).splitlines()[-1] == f"{usage(box)[0] - copy} 2"
    assert usage(box)[1] == 3
