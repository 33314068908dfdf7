"""The Maildir backend's own duties: a copy per recipient with its own trace,
and recognising the copies an interrupted session stored (token in the name)."""

import io

from delivery.backends import MaildirBackend, MaildirSettings, Recipient, trace_headers

TOKEN = "ab" * 16
MESSAGE = b"Subject: hi\nMessage-ID: <m@example.test>\n\nbody\n"


def backend(tmp_path) -> MaildirBackend:
    return MaildirBackend(MaildirSettings(tmp_path))


def deliver(maildir, recipients, folder="", token=TOKEN):
    outcomes = maildir.deliver(
        io.BytesIO(MESSAGE), len(MESSAGE), "", recipients,
        lambda address: trace_headers("pop.example.test", address), folder=folder, token=token,
    )
    maildir.flush()
    return outcomes


def test_each_recipient_gets_a_copy_of_its_own_naming_only_itself(tmp_path):
    ann, bob = Recipient("ann@corp.test"), Recipient("bob@corp.test")

    outcomes = deliver(backend(tmp_path), [ann, bob], folder="Work")

    assert [(o.recipient, o.status) for o in outcomes] == [
        ("ann@corp.test", "delivered"), ("bob@corp.test", "delivered")
    ]
    for name, other in (("ann", "bob"), ("bob", "ann")):
        [copy] = (tmp_path / "corp.test" / name / ".Work" / "new").iterdir()
        data = copy.read_bytes()
        assert data.endswith(MESSAGE)
        assert f"for <{name}@corp.test>".encode() in data
        assert f"Delivered-To: {name}@corp.test\n".encode() in data
        assert other.encode() not in data
        assert f",S={len(data)}" in copy.name and f"R{TOKEN}." in copy.name


def test_it_recognises_a_copy_stored_by_an_interrupted_session(tmp_path):
    ann, bob = Recipient("ann@corp.test"), Recipient("bob@corp.test")
    deliver(backend(tmp_path), [ann, bob])
    [copy] = (tmp_path / "corp.test" / "bob" / "new").iterdir()
    copy.rename(tmp_path / "corp.test" / "bob" / "cur" / f"{copy.name}:2,S")  # a reader saw it

    later = backend(tmp_path)  # the next session

    assert later.already_delivered(ann, "", TOKEN)
    assert later.already_delivered(bob, "", TOKEN)
    assert not later.already_delivered(ann, "", "cd" * 16)  # another message
    assert not later.already_delivered(ann, "Work", TOKEN)  # not in that folder
    assert not later.already_delivered(ann, "", "")


def test_an_address_that_would_leave_mail_root_is_refused_and_looks_empty(tmp_path):
    bad, good = Recipient("../x@corp.test"), Recipient("ann@corp.test")
    maildir = backend(tmp_path)

    outcomes = deliver(maildir, [bad, good])

    assert [o.status for o in outcomes] == ["permanent", "delivered"]
    assert "refusing to deliver to" in outcomes[0].detail
    assert not maildir.already_delivered(bad, "", TOKEN)
