"""Each account's recent checks (the messages themselves are on the mail page)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from retrieval import explain
from retrieval.oauth.permissions import may_connect
from retrieval.views.access import own_account

RECENT_RUNS = 20


@login_required
def runs_page(request, pk):
    account = own_account(request, pk)
    runs = list(account.runs.order_by("-started")[:RECENT_RUNS])
    may_reconnect = may_connect(request.user, account)
    rows = [(run, explain.explain(run.error, account.host, may_reconnect)) for run in runs]
    return render(request, "mail/runs.html", {"account": account, "rows": rows,
                                              "limit": RECENT_RUNS})
