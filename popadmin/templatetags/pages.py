"""Small helpers of the site's own pages (the 403 and 404 pages)."""

from django import template
from django.utils.http import url_has_allowed_host_and_scheme

register = template.Library()


@register.simple_tag(takes_context=True)
def way_back(context) -> str:
    """The page the visitor came from, when it is on this site; else ""."""
    request = context.get("request")
    if request is None:
        return ""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(referer, {request.get_host()},
                                                   require_https=request.is_secure()):
        return referer
    return ""
