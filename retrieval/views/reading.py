"""One message of the signed-in user: the reading pane, its HTML frame, its
attachments, the original, and read/unread.

A message is a Delivery row of the user's own Mailbox; any other id (another
user's, staff included: they use the admin) is a 404, as if it did not
exist. Its bytes come from the user's Maildir (delivery/mailbox_reader.py).
The HTML frame is a separate response with a policy of its own: no script,
no form, nothing loaded from elsewhere (remote images only when the reader
asked), and it is shown in a sandboxed iframe.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import content_disposition_header
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from delivery import message_view
from delivery.models import Delivery
from retrieval import mail_list, triggers

NOT_HERE = gettext_lazy("This message is no longer in your mailbox: it was deleted or moved "
                        "by your mail program.")
FRAME_POLICY = {
    "default-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["data:"],
    "font-src": ["'none'"],
    "form-action": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'self'"],
    "object-src": ["'none'"],
    "sandbox": ["allow-popups", "allow-popups-to-escape-sandbox"],
}


def own_delivery(request, pk) -> Delivery:
    mailbox = getattr(request.user, "mailbox", None)
    if mailbox is None:
        raise Http404("no mailbox")
    return get_object_or_404(mail_list.delivered(mailbox).select_related("run__account"),
                             pk=pk)


def _row(request, delivery):
    accounts = list(triggers.user_accounts(request.user).select_related("delivery_target"))
    return mail_list.rows_for(delivery.mailbox, [delivery], accounts)[0]


def _file(row):
    box = mail_list.reader(row.delivery.mailbox)
    if box is None or row.entry is None:
        return None
    return box.open(row.folder, row.delivery.token)


def open_message(request, mailbox, accounts, pk) -> dict:
    """The reading pane's content; opening it marks the message seen."""
    delivery = own_delivery(request, pk)
    row = mail_list.rows_for(mailbox, [delivery], accounts)[0]
    pane = {"row": row, "d": delivery, "remote": request.GET.get("remote") == "1"}
    if not row.in_maildir:
        return pane
    source = _file(row)
    if source is None:
        pane["gone"] = NOT_HERE
        return pane
    with source:
        pane["shown"] = message_view.show(source, delivery.size)
    if row.unread:
        mail_list.reader(mailbox).set_seen(row.folder, delivery.token)
    return pane


@never_cache
@login_required
@xframe_options_sameorigin
def body(request, pk):
    """The sanitised HTML, for the reading pane's sandboxed iframe."""
    row = _row(request, own_delivery(request, pk))
    source = _file(row)
    if source is None:
        raise Http404(NOT_HERE)
    remote = request.GET.get("remote") == "1"
    with source:
        cleaned = message_view.html(source, row.delivery.size, remote)
    if cleaned is None:
        raise Http404("this message has no HTML part")
    page = ('<!doctype html><html><head><meta charset="utf-8">'
            '<meta name="referrer" content="no-referrer"><style>'
            "body{font:15px/1.5 system-ui,sans-serif;margin:12px;color:#1b1f24;"
            "overflow-wrap:anywhere}img{max-width:100%;height:auto}"
            "</style></head><body>" + cleaned.html + "</body></html>")
    response = HttpResponse(page, content_type="text/html; charset=utf-8")
    policy = dict(FRAME_POLICY)
    if remote:
        policy["img-src"] = ["data:", "https:", "http:"]
    response._csp_config = policy
    response["Referrer-Policy"] = "no-referrer"
    response["X-Remote-Images-Blocked"] = str(cleaned.remote_blocked)
    return response


def _download(data: bytes, filename: str, content_type: str) -> HttpResponse:
    # Never shown inline: an attached page or image runs nowhere on this site.
    response = HttpResponse(data, content_type="application/octet-stream"
                            if content_type.startswith(("text/html", "image/svg"))
                            else content_type)
    response["Content-Disposition"] = content_disposition_header(
        True, get_valid_filename(filename) or "attachment")
    response["X-Content-Type-Options"] = "nosniff"
    response._csp_config = {"default-src": ["'none'"], "sandbox": True}
    return response


@never_cache
@login_required
def attachment(request, pk, index):
    row = _row(request, own_delivery(request, pk))
    source = _file(row)
    if source is None:
        raise Http404(NOT_HERE)
    with source:
        found = message_view.attachment(source, row.delivery.size, index)
    if found is None:
        raise Http404("no such part")
    part, data = found
    return _download(data, part.filename, part.content_type)


@never_cache
@login_required
def original(request, pk):
    row = _row(request, own_delivery(request, pk))
    source = _file(row)
    if source is None:
        raise Http404(NOT_HERE)
    with source:
        data = source.read()
    return _download(data, f"message-{row.delivery.pk}.eml", "message/rfc822")


@login_required
@require_POST
def flags(request, pk):
    """Mark read or unread (seen=1/0), the Maildir way, then back to the message list."""
    row = _row(request, own_delivery(request, pk))
    box = mail_list.reader(row.delivery.mailbox)
    if box is None or row.entry is None:
        raise Http404(NOT_HERE)
    box.set_seen(row.folder, row.delivery.token, request.POST.get("seen") != "0")
    return redirect("mail-home")
