"""One stored message taken apart for reading: headers, the text, the HTML
(sanitised, delivery/html_sanitise.py), and the attachments.

Whatever the bytes are, this answers: broken MIME (a boundary that never
comes, a charset nobody knows, base64 that is not) gives what could be read,
and a note; a huge message is parsed up to PARSE_LIMIT bytes, and the text and
HTML shown are cut at TEXT_LIMIT / HTML_LIMIT with a note, so one message
never holds the page up (bench/mail_page.py times a 10 MB one). The whole
original stays downloadable.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from delivery.html_sanitise import clean

PARSE_LIMIT = 32 * 1024 * 1024
TEXT_LIMIT = 1024 * 1024  # characters of text shown
HTML_LIMIT = 2 * 1024 * 1024  # characters of HTML sanitised and shown
INLINE_IMAGE_LIMIT = 2 * 1024 * 1024  # bytes of one cid: image turned into a data: URI
HEADER_LIMIT = 2000  # characters of one header shown
# Whether to offer "Show remote images": a quick look, not the sanitiser (the
# frame's X-Remote-Images-Blocked header says what it really left out).
_REMOTE_IMAGE = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*["']?\s*(?:https?:)?//""", re.I)


@dataclass
class Attachment:
    index: int  # position in the message's walk(): stable for the same bytes
    filename: str
    content_type: str
    size: int


@dataclass
class Shown:
    subject: str = ""
    sender: str = ""
    to: str = ""
    cc: str = ""
    date: str = ""
    text: str | None = None
    html: str | None = None  # the raw HTML part; sanitised by html()
    attachments: list[Attachment] = field(default_factory=list)
    inline: dict[str, int] = field(default_factory=dict)  # Content-ID -> part index
    notes: list[str] = field(default_factory=list)
    remote_images: int = 0  # left out of the HTML until the reader asks


def read(source, size: int) -> tuple[EmailMessage, bool]:
    """The parsed message and whether it was cut at PARSE_LIMIT."""
    data = source.read(PARSE_LIMIT + 1)
    cut = len(data) > PARSE_LIMIT or size > PARSE_LIMIT
    return message_from_bytes(data[:PARSE_LIMIT], policy=default_policy), cut


def _header(message, name: str) -> str:
    try:
        value = str(message.get(name) or "")
    except Exception:  # whatever the parser chokes on in a header, it is shown raw
        value = next((str(v) for k, v in message.raw_items() if k.lower() == name), "")
    text = value
    return text[:HEADER_LIMIT].replace("\r", " ").replace("\n", " ")


def _text_of(part) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def _payload(part) -> bytes:
    try:
        return part.get_payload(decode=True) or b""
    except (ValueError, TypeError, AssertionError):
        return b""


def show(source, size: int) -> Shown:
    message, cut = read(source, size)
    shown = Shown(subject=_header(message, "subject"), sender=_header(message, "from"),
                  to=_header(message, "to"), cc=_header(message, "cc"),
                  date=_header(message, "date"))
    if cut:
        shown.notes.append(f"This message is {size // (1024 * 1024)} MB: only its first "
                           f"{PARSE_LIMIT // (1024 * 1024)} MB are shown here. "
                           "Download the original for the rest.")
    if message.defects:
        shown.notes.append("This message is not well-formed; what could be read is shown.")
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        disposition = part.get_content_disposition()
        filename = _filename(part)
        if disposition != "attachment" and not filename and kind == "text/plain" \
                and shown.text is None:
            shown.text = _text_of(part)
        elif disposition != "attachment" and not filename and kind == "text/html" \
                and shown.html is None:
            shown.html = _text_of(part)
        else:
            content_id = (part.get("content-id") or "").strip().strip("<>")
            if content_id and kind.startswith("image/"):
                shown.inline[content_id] = index
            if disposition == "inline" and content_id and not filename:
                continue
            data = _payload(part)
            shown.attachments.append(Attachment(
                index, filename or f"part-{index}.{kind.split('/')[-1][:10]}", kind, len(data)))
    if shown.text is not None and len(shown.text) > TEXT_LIMIT:
        shown.text = shown.text[:TEXT_LIMIT]
        shown.notes.append(f"The text is cut after {TEXT_LIMIT // 1024} KB here; "
                           "download the original for the rest.")
    if shown.html is not None and len(shown.html) > HTML_LIMIT:
        shown.html = shown.html[:HTML_LIMIT]
        shown.notes.append(f"The HTML is cut after {HTML_LIMIT // 1024} KB here; "
                           "download the original for the rest.")
    if shown.html is not None:
        shown.remote_images = len(_REMOTE_IMAGE.findall(shown.html))
    return shown


def _filename(part) -> str:
    try:
        name = part.get_filename() or ""
    except (ValueError, LookupError, TypeError):
        name = ""
    name = "".join(ch for ch in str(name) if ch.isprintable() and ch not in '/\\"')
    return name.strip()[:200]


def html(source, size: int, remote: bool):
    """The sanitised HTML of the message (or None) with its own images inline."""
    message, _cut = read(source, size)
    shown = show_from(message)
    if shown.html is None:
        return None
    inline = {}
    parts = list(message.walk())
    for content_id, index in shown.inline.items():
        part = parts[index]
        data = _payload(part)
        if len(data) <= INLINE_IMAGE_LIMIT and not part.get_content_type().endswith("svg+xml"):
            encoded = base64.b64encode(data).decode()
            inline[content_id] = f"data:{part.get_content_type()};base64,{encoded}"
    return clean(shown.html[:HTML_LIMIT], inline, remote)


def show_from(message) -> Shown:
    """Only the bodies and the inline map of an already parsed message."""
    shown = Shown()
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        no_name = part.get_content_disposition() != "attachment" and not _filename(part)
        if no_name and kind == "text/html" and shown.html is None:
            shown.html = _text_of(part)
        content_id = (part.get("content-id") or "").strip().strip("<>")
        if content_id and kind.startswith("image/"):
            shown.inline[content_id] = index
    return shown


def attachment(source, size: int, index: int) -> tuple[Attachment, bytes] | None:
    message, _cut = read(source, size)
    for position, part in enumerate(message.walk()):
        if position == index and not part.is_multipart():
            data = _payload(part)
            kind = part.get_content_type()
            name = _filename(part) or f"part-{index}.{kind.split('/')[-1][:10]}"
            return Attachment(index, name, kind, len(data)), data
    return None
