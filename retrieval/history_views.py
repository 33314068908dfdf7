"""The run page for staff: /history/runs/<id>/ (the admin's Run page shows the same)."""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache

from retrieval.history import run_summary
from retrieval.models import Run


@never_cache
@staff_member_required
def run_page(request, pk):
    if not request.user.has_perm("retrieval.view_run"):
        raise PermissionDenied("You may not view the retrieval history.")
    run = get_object_or_404(Run.objects.select_related("account", "account__owner"), pk=pk)
    context = {**admin.site.each_context(request), **run_summary(run)}
    return render(request, "retrieval/run_page.html", context)
