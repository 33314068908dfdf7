"""{% load oauth_tags %}{% oauth_grant account %}: an account's OAuth2 sign-in state and its
Connect/Reconnect button, for the admin and user account pages."""

from django import template

from retrieval.oauth.permissions import may_connect
from retrieval.oauth.tokens import grant_status

register = template.Library()


@register.inclusion_tag("oauth/_grant_status.html", takes_context=True)
def oauth_grant(context, account, next_url=""):
    request = context.get("request")
    user = getattr(request, "user", None)
    return {
        "account": account,
        "status": grant_status(account),
        "can_connect": may_connect(user, account),
        "next": next_url or (request.get_full_path() if request else ""),
        "csrf_token": context.get("csrf_token"),
    }
