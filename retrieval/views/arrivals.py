"""What arrived: the messages fetched for the user, and each account's recent checks."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from delivery.models import Delivery
from retrieval import explain
from retrieval.oauth.permissions import may_connect
from retrieval.views.access import own_account

MESSAGES_PER_PAGE = 25
RECENT_RUNS = 20


@login_required
def messages_page(request):
    mailbox = getattr(request.user, "mailbox", None)
    rows = Delivery.objects.none()
    if mailbox is not None:
        rows = (
            Delivery.objects.filter(mailbox=mailbox, result=Delivery.Result.DELIVERED)
            .select_related("run__account")
            .order_by("-created", "-pk")
        )
    page = Paginator(rows, MESSAGES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "mail/messages.html", {"page": page, "mailbox": mailbox,
                                                  "nav": "messages"})


@login_required
def runs_page(request, pk):
    account = own_account(request, pk)
    runs = list(account.runs.order_by("-started")[:RECENT_RUNS])
    may_reconnect = may_connect(request.user, account)
    rows = [(run, explain.explain(run.error, account.host, may_reconnect)) for run in runs]
    return render(request, "mail/runs.html", {"account": account, "rows": rows,
                                              "limit": RECENT_RUNS})
