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
from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 600, 160
TOP, BOTTOM, LEFT = 14, 20, 4


def number(value) -> str:
    return f"{value:,}"


def size(value) -> str:
    return filesizeformat(value).replace("\xa0", " ")


def bar_chart(buckets, series, *, label, fmt=number, title="", link=None) -> str:
    """Stacked bars, one per bucket. `series`: [(field, css class, legend)];
    `label(bucket)` names a bucket; `fmt` formats a value; `link(bucket)`, the
    address a bar leads to."""
    n = len(buckets) or 1
    totals = [sum(b.values[f] for f, _, _ in series) for b in buckets]
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
            f"{legend} {fmt(bucket.values[f])}" for f, _, legend in series
        )
        href = link(bucket) if link and total else ""
        if href:
            parts.append(f'<a href="{escape(href)}">')
        parts.append(f"<g><title>{escape(tip)}</title>")
        if not total:
            # An empty slot still answers the hover.
            parts.append(f'<rect class="hover" x="{x:.1f}" y="{TOP}" width="{bar_w:.1f}" '
                         f'height="{plot_h}"/>')
        for f, css, _ in series:
            h = plot_h * bucket.values[f] / peak
            if h <= 0:
                continue
            y -= h
            parts.append(f'<rect class="bar {css}" x="{x:.1f}" y="{y:.1f}" '
                         f'width="{bar_w:.1f}" height="{h:.1f}"/>')
        parts.append("</g></a>" if href else "</g>")
    if not any(totals):
        middle = (TOP + HEIGHT - BOTTOM) / 2
        parts.append(f'<text class="empty" x="{WIDTH / 2:.0f}" y="{middle:.0f}" '
                     f'text-anchor="middle">No data yet</text>')
    for i in (0, n // 2, n - 1):
        if i < len(buckets):
            x = LEFT + i * slot + slot / 2
            anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
            parts.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 5}" '
                         f'text-anchor="{anchor}">{escape(label(buckets[i]))}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)


RUN_SERIES = [("runs_ok", "ok", "ok"), ("runs_partial", "partial", "partial"),
              ("runs_error", "error", "error")]


def describe(buckets, fields, *, label, fmt=number, noun, unit, empty="") -> str:
    """The chart in one sentence: the total, and the busiest bucket."""
    totals = [sum(b.values[f] for f in fields) for b in buckets]
    if not any(totals):
        return f"{empty or 'No ' + noun} in these {len(buckets)} {unit}s: no data yet."
    peak = max(range(len(totals)), key=totals.__getitem__)
    if sum(totals) == 1 and noun.endswith("s"):
        noun = noun[:-1]  # "1 run", "1 message"
    return (f"{fmt(sum(totals))} {noun} in {len(buckets)} {unit}s; the busiest {unit}: "
            f"{label(buckets[peak])}, {fmt(totals[peak])}.")


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
        return f"{b.start:%b %d}"

    out = {}
    for key, buckets, label, unit, length in (
        ("hour", hourly, hour_label, "hour", dt.timedelta(hours=1)),
        ("day", daily, day_label, "day", dt.timedelta(days=1)),
    ):
        def link(b, length=length):
            return runs_url(b.start, length)
        out[key] = {
            "messages": {
                "svg": bar_chart(buckets, [("messages", "messages", "messages")],
                                 label=label, title="Messages fetched", link=link),
                "text": describe(buckets, ["messages"], label=label, noun="messages",
                                 unit=unit)},
            "bytes": {
                "svg": bar_chart(buckets, [("bytes", "bytes", "fetched")], label=label,
                                 fmt=size, title="Bytes fetched", link=link),
                "text": describe(buckets, ["bytes"], label=label, fmt=size, noun="fetched",
                                 unit=unit, empty="Nothing fetched")},
            "runs": {
                "svg": bar_chart(buckets, RUN_SERIES, label=label, title="Runs by result",
                                 link=link),
                "text": describe(buckets, [f for f, _, _ in RUN_SERIES], label=label,
                                 noun="runs", unit=unit)},
        }
    return out
