"""The API tokens page: a user makes tokens (each shown once) and revokes them."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from api import tokens
from api.models import ApiToken
from api.token_forms import TokenForm


@login_required
def token_page(request):
    form = TokenForm(request.POST or None, user=request.user)
    made = None
    if request.method == "POST" and form.is_valid():
        row, made = tokens.create(
            request.user, form.cleaned_data["name"],
            writes=form.cleaned_data["access"] == "write",
            staff=form.cleaned_data.get("staff", False), expires=form.expires())
        # Rendered, not redirected: the token exists only in this response.
        form = TokenForm(user=request.user)
        made = {"row": row, "token": made}
    rows = list(request.user.api_tokens.all())
    return render(request, "mail/api_tokens.html",
                  {"form": form, "made": made, "rows": rows, "nav": "tokens"},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def revoke(request, pk):
    row = get_object_or_404(ApiToken, pk=pk, user=request.user)
    tokens.revoke(row)
    messages.success(request, _("Token %(token)s revoked: it no longer works.") % {"token": row})
    return redirect("api-tokens")
