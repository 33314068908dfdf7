"""Where a documentation page is read: the built site under POPADMIN_DOCS_URL
when an operator publishes one, else the Markdown file in popadmin's folder
(the site is built locally, so there is no address to link to by default)."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class DocsLink:
    path: str  # the file in popadmin's folder, e.g. "docs/getting-started/install.md"
    url: str   # the page of the built site, or "" when no site is published

    def __str__(self):
        return self.url or self.path


def docs_link(page: str) -> DocsLink:
    """`page` is relative to docs/, as in mkdocs.yml ("admin/oauth2.md")."""
    base = settings.POPADMIN_DOCS_URL.rstrip("/")
    if not base:
        return DocsLink(path=f"docs/{page}", url="")
    # MkDocs serves "a/b.md" at "a/b/" and "a/index.md" at "a/".
    stem = page.removesuffix(".md")
    stem = "" if stem == "index" else stem.removesuffix("/index")
    return DocsLink(path=f"docs/{page}", url=f"{base}/{stem}/" if stem else f"{base}/")
