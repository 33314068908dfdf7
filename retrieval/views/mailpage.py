"""`/mail/`: the webmail-style page. Folders and accounts on the side, the
message list (newest first, search, pages), the reading pane; the live list
feed the page's script asks for while mail is being checked."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from accounts.policy import allowed
from retrieval import mail_list, triggers, unread_by_account
from retrieval.mail_paging import Cursor
from retrieval.models import GlobalSettings
from retrieval.views.reading import open_message


def _number(text: str) -> int | None:
    """A database id from the query string; anything else (or too big for one) is None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 16 else None


def _filters(request) -> dict:
    folder = request.GET.get("folder")
    return {
        "folder": mail_list.folder_key(folder) if folder is not None else None,
        "account": _number(request.GET.get("account", "")),
        "q": request.GET.get("q", "").strip()[:200],
    }


def _query(filters) -> str:
    kept = {k: v for k, v in filters.items() if v not in (None, "")}
    if filters.get("folder") == "":
        kept["folder"] = "INBOX"
    return urlencode(kept)


@never_cache
@login_required
def inbox(request, pk=None):
    mailbox = getattr(request.user, "mailbox", None)
    filters = _filters(request)
    ctx = {"mailbox": mailbox, "nav": "mail", "filters": filters, "query": _query(filters),
           "can_check": allowed(request.user, "manual_check"),
           "can_manage": allowed(request.user, "manage_own_accounts"),
           "service_running": GlobalSettings.is_running()}
    if mailbox is None:
        if pk is not None:
            raise Http404("no mailbox")
        return render(request, "mail/inbox.html", ctx)
    accounts = list(triggers.user_accounts(request.user).select_related("delivery_target"))
    if pk is not None:  # first: opening it marks it seen, which the counts then show
        ctx["message"] = open_message(request, mailbox, accounts, pk)
    page = mail_list.page_of(mailbox, older=request.GET.get("older"),
                             newer=request.GET.get("newer"), **filters)
    latest = unread_by_account.newest(mail_list.delivered(mailbox))
    unread = mail_list.account_unread(mailbox, latest)
    here = _here(filters, page)
    rows = mail_list.rows_for(mailbox, page.object_list, accounts)
    link = reverse("mail-message", args=[0])[:-2]  # "/mail/": one reverse() for the page
    current = ctx["message"]["d"].pk if "message" in ctx else None
    for r in rows:
        r.href = f"{link}{r.pk}/" + (f"?{here}" if here else "")
        r.current = r.pk == current
    ctx.update({
        "page": page,
        "here": here,
        "rows": rows,
        "folders": mail_list.folder_counts(mailbox),
        "accounts": [(a, unread.get(a.pk, 0)) for a in accounts],
        "latest": latest,
    })
    return render(request, "mail/inbox.html", ctx)


def _here(filters, page) -> str:
    """The list's own address (filters and position), carried by the links to
    its messages so that the list beside a message stays where it was."""
    query = _query(filters)
    if page.is_first:
        return query
    at = (urlencode({"older": Cursor.of(page.object_list[0]).just_above()})
          if page.object_list else "")
    return "&".join(p for p in (query, at) if p)


@never_cache
@login_required
def feed(request):
    """Messages newer than ?after=<id>, and the counts, for the live list."""
    mailbox = getattr(request.user, "mailbox", None)
    if mailbox is None:
        return JsonResponse({"rows": [], "folders": [], "accounts": {}})
    filters = _filters(request)
    accounts = list(triggers.user_accounts(request.user).select_related("delivery_target"))
    fresh = mail_list.newer_than(mailbox, _number(request.GET.get("after", "")) or 0, **filters)
    rows = mail_list.rows_for(mailbox, fresh, accounts)
    return JsonResponse({
        "rows": [_row(r) for r in rows],
        "folders": [{"name": f.name or "INBOX", "unread": f.unread}
                    for f in mail_list.folder_counts(mailbox)],
        "accounts": {str(k): v for k, v in mail_list.account_unread(mailbox).items()},
    })


def _row(row) -> dict:
    d = row.delivery
    return {
        "id": d.pk,
        "url": reverse("mail-message", args=[d.pk]),
        "sender": row.sender_name,
        "address": d.sender,
        "subject": row.subject,
        "date": row.when,
        "datetime": row.moment.isoformat(),
        "full_date": row.full_date,
        "account": str(d.run.account) if d.run and d.run.account else "",
        "unread": row.unread,
        "elsewhere": not row.in_maildir,
    }
