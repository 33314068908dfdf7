"""HTML mail made safe to show: nh3 (the Rust ammonia sanitiser) with an
allow-list, and remote content (images loaded from the sender's server, which
tell the sender when and where the mail was read) left out unless asked for.

What survives: formatting tags and attributes, links (http, https, mailto,
tel; opened in a new tab, without referrer), images that are part of the
message (cid: → data: URIs) and, when the reader asks, http(s) images.
What never does: scripts and their content, event-handler attributes, style
sheets (<style>), forms and inputs, frames, objects, javascript:/data: links,
and any CSS property that can load a URL (only the properties below are kept
in style attributes). The page showing it adds its own Content-Security-Policy
and a sandboxed frame on top (retrieval/views/message_parts.py).
"""

from __future__ import annotations

import nh3

SAFE_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
REMOTE_SCHEMES = ("http:", "https:", "//")
# CSS properties that cannot fetch anything (no url(), image-set(), ...).
STYLE_PROPERTIES = frozenset({
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-weight", "font-variant", "line-height", "letter-spacing", "word-spacing",
    "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align",
    "white-space", "word-break", "word-wrap", "overflow-wrap", "direction",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-style", "border-width", "border-radius", "border-collapse",
    "border-spacing", "width", "max-width", "min-width", "height", "max-height",
    "min-height", "display", "table-layout", "text-overflow", "overflow",
})
TAGS = frozenset({
    "a", "abbr", "address", "b", "bdi", "bdo", "big", "blockquote", "br", "caption",
    "center", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div",
    "dl", "dt", "em", "figcaption", "figure", "font", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
})
DROPPED_WITH_CONTENT = frozenset({"script", "style", "title", "head", "noscript",
                                  "template", "iframe", "object", "embed", "svg", "math"})
COMMON = {"style", "title", "dir", "lang", "align", "valign", "width", "height", "bgcolor"}
ATTRIBUTES = {
    "*": COMMON,
    "a": {"href", "name"},
    "img": {"src", "alt"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap", "scope"},
    "col": {"span"},
    "ol": {"start", "type"},
    "li": {"value"},
}


class Cleaned:
    def __init__(self, html: str, remote_blocked: int):
        self.html = html
        self.remote_blocked = remote_blocked  # remote images left out


def clean(html: str, inline: dict[str, str] | None = None, remote: bool = False) -> Cleaned:
    """`inline`: Content-ID (without <>) -> data: URI of the message's own images."""
    inline = inline or {}
    blocked = 0

    def keep(tag, attribute, value):
        nonlocal blocked
        low = value.strip().lower()
        if tag == "a" and attribute == "href":
            return value if low.startswith(SAFE_LINK_SCHEMES) or low.startswith("#") else None
        if tag == "img" and attribute == "src":
            if low.startswith("cid:"):
                return inline.get(value.strip()[4:].strip("<>"))
            if low.startswith("data:image/") and not low.startswith("data:image/svg"):
                return value
            if low.startswith(REMOTE_SCHEMES):
                if remote:
                    return value
                blocked += 1
            return None
        return value

    cleaned = nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        attribute_filter=keep,
        url_schemes={"http", "https", "mailto", "tel", "data", "cid"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties=set(STYLE_PROPERTIES),
        strip_comments=True,
    )
    return Cleaned(cleaned, blocked)
