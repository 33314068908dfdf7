"""The language a user's pages and e-mails are in.

The browser's Accept-Language chooses (Django's LocaleMiddleware) unless the
user picked a language on their page: that choice, kept on their mailbox,
wins on every device they sign in from, and e-mails to them use it too.
"""

from django.conf import settings
from django.utils import translation

from accounts.models import Mailbox


def chosen_language(user) -> str:
    """The language `user` picked on their page; "" when they left it to the browser."""
    if user is None or not user.is_authenticated:
        return ""
    try:
        mailbox = user.mailbox
    except Mailbox.DoesNotExist:
        return ""
    return mailbox.language if mailbox is not None else ""


def language_for_mailbox(mailbox) -> str:
    """The language for mail to `mailbox`'s owner: their choice, else the site's default."""
    return (mailbox.language if mailbox is not None else "") or settings.LANGUAGE_CODE


class UserLanguageMiddleware:
    """After authentication: the signed-in user's own choice overrides the browser's.

    Reading the mailbox through the user caches it on the request's user, so the
    pages that show the mailbox pay no second query for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = chosen_language(getattr(request, "user", None))
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        # LocaleMiddleware, outside this one, names the active language in Content-Language.
        return self.get_response(request)
