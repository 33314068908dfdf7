"""Which configured OAuth2 provider to offer when a user adds an account by its address.

Gmail and Microsoft 365 / Outlook.com take OAuth2 sign-in rather than the
account password; when autoconfig recognises one of them and an
administrator has set up a provider with that preset, the add page offers
"Sign in with Google/Microsoft" instead of a password field.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from retrieval.models import OAuthProvider

BRANDS = {OAuthProvider.Preset.GOOGLE: "Google", OAuthProvider.Preset.MICROSOFT: "Microsoft"}


@dataclass(frozen=True)
class Offer:
    provider: OAuthProvider
    brand: str  # "Google" / "Microsoft", for "Sign in with …"

    @property
    def label(self) -> str:
        return f"Sign in with {self.brand}"

    @property
    def save_label(self) -> str:
        return f"Save and sign in with {self.brand}"

    def allow_form_to_sign_in(self, response):
        """Saving goes on by redirects to the provider's sign-in page: a browser holds a
        form's redirects to the page's CSP form-action ('self'), so the page that carries
        the offer also allows the provider's origin (and nothing else)."""
        url = urlsplit(self.provider.authorization_endpoint)
        if url.scheme in ("https", "http") and url.netloc:
            response._csp_update = {"form-action": [f"{url.scheme}://{url.netloc}"]}
        return response


def offer_for(suggestions) -> Offer | None:
    """The sign-in to offer for autoconfig's suggestions (best first), or None."""
    preset = next((s.oauth for s in suggestions if s.oauth), "")
    if preset not in BRANDS:
        return None
    # Several providers of one kind (e.g. two Microsoft tenants): the first by name.
    provider = OAuthProvider.objects.filter(preset=preset).order_by("name").first()
    return Offer(provider, BRANDS[preset]) if provider else None


def from_post(value) -> Offer | None:
    """The offer the add form carried over (a provider id), if that provider still exists."""
    if not isinstance(value, str) or not value.isdigit():
        return None
    provider = OAuthProvider.objects.filter(pk=int(value)).first()
    return Offer(provider, BRANDS.get(provider.preset, provider.name)) if provider else None


# Said on the add page, before anything is typed, when the address belongs to a provider
# that refuses the account password over POP3/IMAP and no OAuth2 provider is set up here.
WITHOUT_SIGN_IN = {
    OAuthProvider.Preset.GOOGLE: (
        "Google does not accept your Google password here.",
        "Use an app password instead: create one in your Google account's security settings "
        "(it needs 2-Step Verification) and type it below as the password. Where Google "
        "allows no app passwords (many work and school accounts), ask your administrator to "
        "turn on Sign in with Google.",
    ),
    OAuthProvider.Preset.MICROSOFT: (
        "Microsoft does not accept your password here.",
        "Outlook.com and Microsoft 365 mailboxes are read with Sign in with Microsoft, which "
        "is not set up on this server: ask your administrator to turn it on. Typing your "
        "password below will not work.",
    ),
}


def missing_sign_in(suggestions) -> tuple[str, str] | None:
    """(what, what to do) when the suggestions name a provider that wants OAuth2 sign-in
    and none is configured; None otherwise."""
    preset = next((s.oauth for s in suggestions if s.oauth), "")
    if preset not in WITHOUT_SIGN_IN or offer_for(suggestions):
        return None
    return WITHOUT_SIGN_IN[preset]
