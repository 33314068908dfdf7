"""The user's own choice of language for their pages and e-mails (accounts/language.py)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST


class LanguageForm(forms.Form):
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        required=False,
        # Each language named in itself, so a reader lost in the wrong one finds theirs.
        choices=[("", gettext_lazy("As my browser asks"))] + list(settings.LANGUAGES),
    )


def language_form(mailbox) -> LanguageForm:
    return LanguageForm(initial={"language": mailbox.language if mailbox else ""})


@login_required
@require_POST
def set_language(request):
    mailbox = getattr(request.user, "mailbox", None)
    form = LanguageForm(request.POST)
    if mailbox is None or not form.is_valid():
        return redirect("mail-accounts")
    mailbox.language = form.cleaned_data["language"]
    mailbox.save(update_fields=["language"])  # the audit trail records the change
    # This response already speaks the new language.
    translation.activate(mailbox.language or translation.get_language_from_request(request))
    messages.success(request, _("Language saved."))
    return redirect("mail-accounts")
