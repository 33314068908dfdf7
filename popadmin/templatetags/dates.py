"""The date rule: every absolute time on a page reads "2026-12-04 19:49 UTC".

Year-month-day, 24-hour clock, minutes, and the zone the site shows times in
(TIME_ZONE, UTC unless set); in German "04.12.2026 19:49 UTC" (the active
language's SHORT_DATETIME_FORMAT, popadmin/formats/). The exact second is in the tooltip and in the
<time> element's machine-readable datetime, for whoever needs it.
"""

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.formats import get_format
from django.utils.html import format_html

register = template.Library()


def when_text(value) -> str:
    """The plain text of the rule, for places that cannot hold markup."""
    if not value:
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    shown = date_format(local, get_format("SHORT_DATETIME_FORMAT"))
    return f"{shown} {local.tzname() or ''}".strip()


@register.filter
def when(value, empty=""):
    """`{{ run.started|when }}`; `{{ a.last_check|when:"never" }}` for a missing time."""
    if not value:
        return empty
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    exact = date_format(local, get_format("SHORT_DATETIME_FORMAT") + ":s T")
    return format_html('<time datetime="{}" title="{}">{}</time>', local.isoformat(), exact,
                       when_text(value))
