"""The filters of the admin's history lists, as query parameters."""

from datetime import datetime, time

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware
from rest_framework.exceptions import ValidationError


def moment(params, name: str):
    """?since= / ?until= as an ISO 8601 date or date-time (naive: the server's time zone)."""
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        value = parse_datetime(text)
        if value is None and (day := parse_date(text)) is not None:
            value = datetime.combine(day, time.min)
    except ValueError:  # well formed, but no such day or hour
        value = None
    if value is None:
        raise ValidationError({name: ["Give an ISO 8601 date or date-time, e.g. "
                                      "2026-01-31 or 2026-01-31T08:00:00Z."]})
    return make_aware(value) if is_naive(value) else value


def number(params, name: str):
    text = params.get(name, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) < 16):
        raise ValidationError({name: ["Give a number."]})
    return int(text)


def time_range(rows, params, field: str):
    if (since := moment(params, "since")) is not None:
        rows = rows.filter(**{f"{field}__gte": since})
    if (until := moment(params, "until")) is not None:
        rows = rows.filter(**{f"{field}__lt": until})
    return rows


def text(rows, params, name: str, lookup: str):
    value = params.get(name, "").strip()
    return rows.filter(**{lookup: value}) if value else rows
