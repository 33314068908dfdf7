"""Opening a message on the mail page: read from the user's Maildir; text as
text; HTML sanitised, in a sandboxed frame with a policy of its own, remote
images only on request; attachments listed and downloadable; broken MIME and
huge bodies shown safely; opening marks it seen the Maildir way; links planted
in the mailbox are never followed."""

import os
import re

import pytest
from django.urls import reverse

from tests.factories import make_mailbox
from tests.mail_helpers import file_of, fresh_mail_root, plain, store

pytestmark = pytest.mark.django_db

HOSTILE = """<html><head><style>body{background:url(https://tracker.test/css.png)}</style>
<script>document.title='pwned'</script><base href="https://evil.test/"></head>
<body onload="steal()"><p style="color:red;background-image:url(https://tracker.test/bg.png)">Hi</p>
<img src="https://tracker.test/pixel.gif" onerror="alert(1)">
<a href="javascript:alert(1)">click</a> <a href="https://ok.test/page">fine link</a>
<form action="https://evil.test/phish"><input name="password"><button>Log in</button></form>
<iframe src="https://evil.test/frame"></iframe><svg onload="alert(2)"><script>x()</script></svg>
<table background="https://tracker.test/table.png"><tr><td>cell</td></tr></table>
<meta http-equiv="refresh" content="0;url=https://evil.test/"></body></html>"""


@pytest.fixture(autouse=True)
def mail_root(settings, tmp_path):
    return fresh_mail_root(settings, tmp_path)


@pytest.fixture
def me(django_user_model, client):
    user = django_user_model.objects.create_user("me", password="x")
    make_mailbox("me@local.test", user=user)
    client.force_login(user)
    return user


def opened(client, delivery, **query):
    response = client.get(reverse("mail-message", args=[delivery.pk]), query)
    assert response.status_code == 200
    return response.content.decode()


def test_plain_text_is_shown_as_text(client, me):
    delivery = store(me.mailbox, plain("Plain one", "Dear <b>you</b>,\nline two\n"))

    text = opened(client, delivery)

    assert re.search(r'<pre class="read-text">Dear &lt;b&gt;you&lt;/b&gt;,\nline two', text)
    assert "<iframe" not in text


def test_hostile_html_is_sanitised_and_framed_without_scripts_or_remote_content(client, me):
    delivery = store(me.mailbox, plain("Hostile", "text part", html=HOSTILE))

    pane = opened(client, delivery)
    frame = client.get(reverse("mail-message-body", args=[delivery.pk]))
    body = frame.content.decode().lower()

    iframe = re.search(r"<iframe[^>]*>", pane).group(0)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in iframe
    assert "allow-scripts" not in iframe and "allow-same-origin" not in iframe
    assert "Show remote images" in pane
    for bad in ("<script", "onload", "onerror", "javascript:", "tracker.test", "<form",
                "<input", "<iframe", "<base", "http-equiv", "evil.test", "url("):
        assert bad not in body, bad
    assert "fine link" in body and 'href="https://ok.test/page"' in body
    assert 'rel="noopener noreferrer"' in body and "color:red" in body
    policy = frame["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "img-src data:" in policy
    assert "script-src" not in policy and "https:" not in policy
    assert "sandbox allow-popups" in policy and "frame-ancestors 'self'" in policy
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    assert frame["X-Remote-Images-Blocked"] == "1"


def test_remote_images_load_only_when_the_user_asks(client, me):
    delivery = store(me.mailbox, plain("Newsletter", "text", html=HOSTILE))

    frame = client.get(reverse("mail-message-body", args=[delivery.pk]), {"remote": "1"})
    body = frame.content.decode()

    assert 'src="https://tracker.test/pixel.gif"' in body
    assert "img-src data: https: http:" in frame["Content-Security-Policy"]
    assert "<script" not in body and "onerror" not in body and "url(" not in body
    assert "Hide them" in opened(client, delivery, remote="1")


def test_attachments_are_listed_and_downloaded_never_rendered(client, me):
    raw = plain("With files", "see attached", attachments=[
        ("report.pdf", "application/pdf", b"%PDF-1.4 fake"),
        ("page.html", "text/html", b"<script>alert(1)</script>"),
        ("résumé 2026.pdf", "application/pdf", b"%PDF-1.4 cv"),
    ])
    delivery = store(me.mailbox, raw)

    pane = opened(client, delivery)
    links = re.findall(r'href="(/mail/\d+/parts/\d+)" download>([^<]+)<', pane)
    assert [name for _url, name in links] == ["report.pdf", "page.html", "résumé 2026.pdf"]
    pdf = client.get(links[0][0])
    page = client.get(links[1][0])
    accented = client.get(links[2][0])

    assert pdf.content == b"%PDF-1.4 fake" and pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert page["Content-Type"] == "application/octet-stream"
    assert page["Content-Disposition"].startswith("attachment;")
    assert accented["Content-Disposition"] == (
        "attachment; filename*=utf-8''r%C3%A9sum%C3%A9_2026.pdf")
    original = client.get(reverse("mail-original", args=[delivery.pk]))
    assert original.content == file_of(me.mailbox, delivery).read_bytes()


def test_broken_mime_shows_what_can_be_read(client, me):
    raw = (b"From: Broken <b@example.test>\r\nSubject: =?bogus-charset?Q?caf=E9?=\r\n"
           b"Content-Type: multipart/mixed; boundary=\"never-comes\"\r\n\r\n"
           b"--never-comes\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64 at all!!!\r\n"
           b"--never-comes\r\nContent-Type: text/html\r\n\r\n<p>half a part<scr")
    delivery = store(me.mailbox, raw, subject="Broken")

    pane = opened(client, delivery)
    frame = client.get(reverse("mail-message-body", args=[delivery.pk]))

    assert "not well-formed" in pane
    assert frame.status_code == 200 and "half a part" in frame.content.decode()
    assert "<scr" not in frame.content.decode()


def test_a_huge_body_is_cut_for_display_and_stays_downloadable(client, me):
    raw = plain("Huge", ("abcdefghij" * 8 + "\n") * 130_000)
    delivery = store(me.mailbox, raw)
    assert len(raw) > 10 * 1024 * 1024

    pane = opened(client, delivery)

    assert "The text is cut after 1024 KB" in pane
    assert len(pane) < 1.5 * 1024 * 1024
    assert len(client.get(reverse("mail-original", args=[delivery.pk])).content) == len(raw)


def test_opening_marks_the_message_seen_the_maildir_way(client, me):
    delivery = store(me.mailbox, plain("Unread"))
    before = file_of(me.mailbox, delivery)
    assert before.parent.name == "new" and ":2," not in before.name

    opened(client, delivery)

    after = file_of(me.mailbox, delivery)
    assert after.parent.name == "cur" and after.name == before.name + ":2,S"
    assert 'class="msg unread"' not in client.get(reverse("mail-home")).content.decode()


def test_flags_an_imap_client_set_are_kept_and_read_unread_round_trips(client, me):
    delivery = store(me.mailbox, plain("Flagged"))
    first = file_of(me.mailbox, delivery)
    flagged = first.parent.parent / "cur" / (first.name + ":2,FR")
    os.rename(first, flagged)  # what an IMAP client does: flagged, replied, not seen

    opened(client, delivery)
    assert file_of(me.mailbox, delivery).name.endswith(":2,FRS")

    response = client.post(reverse("mail-flags", args=[delivery.pk]), {"seen": "0"})
    assert response.status_code == 302
    assert file_of(me.mailbox, delivery).name.endswith(":2,FR")
    assert 'class="msg unread"' in client.get(reverse("mail-home")).content.decode()


def test_a_message_an_imap_client_moved_to_another_folder_still_opens(client, me):
    delivery = store(me.mailbox, plain("Moved", "moved body"))
    source = file_of(me.mailbox, delivery)
    archive = source.parent.parent / ".Archive"
    for sub in ("new", "cur", "tmp"):
        (archive / sub).mkdir(parents=True)
    os.rename(source, archive / "cur" / (source.name + ":2,S"))

    assert "moved body" in opened(client, delivery)


def test_links_planted_in_the_mailbox_are_not_followed(client, me, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"Subject: secret\r\n\r\nTOP SECRET\r\n")
    delivery = store(me.mailbox, plain("Planted", "the real one"))
    real = file_of(me.mailbox, delivery)
    real.unlink()
    real.symlink_to(secret)
    outside = tmp_path / "outside"
    for sub in ("new", "cur", "tmp"):
        (outside / sub).mkdir(parents=True)
    (outside / "new" / real.name).write_bytes(secret.read_bytes())
    (real.parent.parent / ".Linked").symlink_to(outside)
    linked = store(me.mailbox, b"", backend="no file", folder="Linked")
    (outside / "new" / f"1.M1P1Q1R{linked.token}.host,S=1").write_bytes(secret.read_bytes())
    linked.backend = "maildir"
    linked.save()

    fifo = store(me.mailbox, plain("A pipe"))
    pipe = file_of(me.mailbox, fifo)
    pipe.unlink()
    os.mkfifo(pipe)  # would hang a reader that opened it blocking

    for message in (delivery, linked, fifo):
        pane = opened(client, message)
        assert "TOP SECRET" not in pane
        assert "no longer in your mailbox" in pane
        for name in ("mail-message-body", "mail-original"):
            assert client.get(reverse(name, args=[message.pk])).status_code == 404
    assert ">Linked<" not in client.get(reverse("mail-home")).content.decode()
