"""Messages stored as the delivery side stores them: the file in the user's
Maildir (through delivery/maildir_folder.deliver, token in its name) and its
Delivery row; or only the row, for copies delivered elsewhere."""

import datetime as dt
import io
import uuid
from email.message import EmailMessage
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from delivery import maildir_folder
from delivery.maildir import mailbox_dir
from delivery.models import Delivery
from retrieval.models import RemoteAccount


def fresh_mail_root(settings, tmp_path):
    """Each test its own MAIL_ROOT: the same address gets an empty Maildir."""
    settings.MAIL_ROOT = tmp_path / "mail"
    return settings.MAIL_ROOT


def own_account(mailbox, name="Work mailbox") -> RemoteAccount:
    account = RemoteAccount(owner=mailbox, host="pop.example.test", username=name, name=name)
    account.set_password("p")
    account.save()
    return account


def plain(subject="Hello", body="Hello there.\n", sender="Anna <anna@example.test>",
          html=None, attachments=()) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "me@local.test"
    message["Subject"] = subject
    message["Date"] = "Fri, 04 Dec 2026 10:00:00 +0000"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, kind, data in attachments:
        main, sub = kind.split("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return message.as_bytes()


def store(mailbox, raw: bytes, *, folder="", run=None, subject=None, sender=None,
          created=None, backend="maildir", seen=False) -> Delivery:
    token = uuid.uuid4().hex
    if backend == "maildir":
        home = mailbox_dir(settings.MAIL_ROOT, mailbox.address)
        maildir_folder.deliver(home, folder, io.BytesIO(raw), len(raw), token=token, seen=seen)
    return Delivery.objects.create(
        mailbox=mailbox, run=run, message_key=token, token=token, result="delivered",
        sender=sender if sender is not None else "Anna <anna@example.test>",
        subject=subject if subject is not None else "Hello",
        sent=created or timezone.now(), folder=folder, backend=backend, size=len(raw),
        created=created or timezone.now())


def file_of(mailbox, delivery, folder="") -> Path:
    """Where the message's file is now (new/ or cur/)."""
    base = Path(mailbox_dir(settings.MAIL_ROOT, mailbox.address))
    if folder:
        base = base / ("." + folder.replace("/", "."))
    found = [p for sub in ("new", "cur") for p in (base / sub).glob(f"*R{delivery.token}.*")]
    assert len(found) == 1, found
    return found[0]


def minutes_ago(n) -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=n)
