"""Bar charts drawn on the server as inline SVG: no script, no remote resource.

Colours come from classes styled in static/dashboard/dashboard.css, so the
charts obey the site's strict Content-Security-Policy (no style attributes).
Each bar carries a <title>: hovering it shows the exact figure, and links
to the runs of its hour or day (the Run list filtered by start time). Each
chart comes with a sentence saying what it shows, for readers who cannot see
it; a chart with nothing to draw says "No data yet" instead of an empty frame.
"""

import datetime as dt
from urllib.parse import urlencode

from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy

WIDTH, HEIGHT = 600, 160
TOP, BOTTOM, LEFT = 14, 20, 4


def number(value) -> str:
    # Grouped the active language's way: 1,234 in English, 1.234 in German.
    return number_format(value, force_grouping=True)


def size(value) -> str:
    return filesizeformat(value).replace("\xa0", " ")


def bar_chart(buckets, series, *, label, fmt=number, title="", link=None) -> str:
    """Stacked bars, one per bucket. `series`: [(field, css class, legend)];
    `label(bucket)` names a bucket; `fmt` formats a value; `link(bucket)`, the
    address a bar leads to."""
    n = len(buckets) or 1
    totals = [sum(b.values[f] for f, _css, _legend in series) for b in buckets]
    peak = max(totals, default=0) or 1
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / n
    bar_w = max(slot * 0.8, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="none">',
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" '
        f'y2="{HEIGHT - BOTTOM}"/>',
        f'<text class="peak" x="{LEFT}" y="10">{escape(fmt(max(totals, default=0)))}</text>',
    ]
    for i, (bucket, total) in enumerate(zip(buckets, totals, strict=True)):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = HEIGHT - BOTTOM
        tip = f"{label(bucket)}: " + ", ".join(
            f"{legend} {fmt(bucket.values[f])}" for f, _css, legend in series
        )
        href = link(bucket) if link and total else ""
        if href:
            parts.append(f'<a href="{escape(href)}">')
        parts.append(f"<g><title>{escape(tip)}</title>")
        if not total:
            # An empty slot still answers the hover.
            parts.append(f'<rect class="hover" x="{x:.1f}" y="{TOP}" width="{bar_w:.1f}" '
                         f'height="{plot_h}"/>')
        for f, css, _legend in series:
            h = plot_h * bucket.values[f] / peak
            if h <= 0:
                continue
            y -= h
            parts.append(f'<rect class="bar {css}" x="{x:.1f}" y="{y:.1f}" '
                         f'width="{bar_w:.1f}" height="{h:.1f}"/>')
        parts.append("</g></a>" if href else "</g>")
    if not any(totals):
        middle = (TOP + HEIGHT - BOTTOM) / 2
        nothing = escape(_("No data yet"))
        parts.append(f'<text class="empty" x="{WIDTH / 2:.0f}" y="{middle:.0f}" '
                     f'text-anchor="middle">{nothing}</text>')
    for i in (0, n // 2, n - 1):
        if i < len(buckets):
            x = LEFT + i * slot + slot / 2
            anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
            parts.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 5}" '
                         f'text-anchor="{anchor}">{escape(label(buckets[i]))}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)


RUN_SERIES = [("runs_ok", "ok", gettext_lazy("ok")),
              ("runs_partial", "partial", gettext_lazy("partial")),
              ("runs_error", "error", gettext_lazy("error"))]

# The chart's sentence per what it counts and per bucket, whole, so a language can word
# each its own way: (nothing counted, counted); the second picks its form by "n".
SENTENCES = {
    ("messages", "hour"): (
        gettext_lazy("No messages in these %(count)s hours: no data yet."),
        ngettext_lazy(
            "%(total)s message in %(count)s hours; the busiest hour: %(label)s, %(peak)s.",
            "%(total)s messages in %(count)s hours; the busiest hour: %(label)s, %(peak)s.",
            "n")),
    ("messages", "day"): (
        gettext_lazy("No messages in these %(count)s days: no data yet."),
        ngettext_lazy(
            "%(total)s message in %(count)s days; the busiest day: %(label)s, %(peak)s.",
            "%(total)s messages in %(count)s days; the busiest day: %(label)s, %(peak)s.",
            "n")),
    ("bytes", "hour"): (
        gettext_lazy("Nothing fetched in these %(count)s hours: no data yet."),
        gettext_lazy(
            "%(total)s fetched in %(count)s hours; the busiest hour: %(label)s, %(peak)s.")),
    ("bytes", "day"): (
        gettext_lazy("Nothing fetched in these %(count)s days: no data yet."),
        gettext_lazy(
            "%(total)s fetched in %(count)s days; the busiest day: %(label)s, %(peak)s.")),
    ("runs", "hour"): (
        gettext_lazy("No runs in these %(count)s hours: no data yet."),
        ngettext_lazy(
            "%(total)s run in %(count)s hours; the busiest hour: %(label)s, %(peak)s.",
            "%(total)s runs in %(count)s hours; the busiest hour: %(label)s, %(peak)s.",
            "n")),
    ("runs", "day"): (
        gettext_lazy("No runs in these %(count)s days: no data yet."),
        ngettext_lazy(
            "%(total)s run in %(count)s days; the busiest day: %(label)s, %(peak)s.",
            "%(total)s runs in %(count)s days; the busiest day: %(label)s, %(peak)s.",
            "n")),
}


def describe(buckets, fields, *, label, fmt=number, kind, unit) -> str:
    """The chart in one sentence: the total, and the busiest bucket."""
    totals = [sum(b.values[f] for f in fields) for b in buckets]
    empty, counted = SENTENCES[(kind, unit)]
    if not any(totals):
        return empty % {"count": len(buckets)}
    peak = max(range(len(totals)), key=totals.__getitem__)
    return counted % {"n": sum(totals), "total": fmt(sum(totals)), "count": len(buckets),
                      "label": label(buckets[peak]), "peak": fmt(totals[peak])}


def runs_url(start, length) -> str:
    """The Run list of the runs started in [start, start + length)."""
    def stamp(moment):
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")
    query = urlencode({"started__gte": stamp(start), "started__lt": stamp(start + length)})
    return f"{reverse('admin:retrieval_run_changelist')}?{query}"


def charts(hourly, daily) -> dict:
    def hour_label(b):
        return f"{b.start:%H}:00"

    def day_label(b):
        return date_format(b.start, "M d")  # "Dec 04", German "Dez 04"

    out = {}
    for key, buckets, label, unit, length in (
        ("hour", hourly, hour_label, "hour", dt.timedelta(hours=1)),
        ("day", daily, day_label, "day", dt.timedelta(days=1)),
    ):
        def link(b, length=length):
            return runs_url(b.start, length)
        out[key] = {
            "messages": {
                "svg": bar_chart(buckets, [("messages", "messages", _("messages"))],
                                 label=label, title=_("Messages fetched"), link=link),
                "text": describe(buckets, ["messages"], label=label, kind="messages",
                                 unit=unit)},
            "bytes": {
                "svg": bar_chart(buckets, [("bytes", "bytes", _("fetched"))], label=label,
                                 fmt=size, title=_("Bytes fetched"), link=link),
                "text": describe(buckets, ["bytes"], label=label, fmt=size, kind="bytes",
                                 unit=unit)},
            "runs": {
                "svg": bar_chart(buckets, RUN_SERIES, label=label, title=_("Runs by result"),
                                 link=link),
                "text": describe(buckets, [f for f, _css, _legend in RUN_SERIES], label=label,
                                 kind="runs", unit=unit)},
        }
    return out
