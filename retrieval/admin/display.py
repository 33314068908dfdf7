"""How an account's state reads in the admin: a badge (words, not colour alone) and the
last error in plain words (retrieval/explain.py)."""

from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_noop

from retrieval.explain import explain
from retrieval.models import RemoteAccount, Run

# last_status -> (badge text, css modifier); the text is translated where shown (badge()).
BADGES = {
    Run.Status.OK: (gettext_noop("OK"), "ok"),
    Run.Status.PARTIAL: (gettext_noop("Partly failed"), "warn"),
    Run.Status.ERROR: (gettext_noop("Failing"), "bad"),
    Run.Status.RUNNING: (gettext_noop("Running"), "info"),
}
SECURITY_SHORT = {
    RemoteAccount.Security.TLS: "TLS",
    RemoteAccount.Security.STARTTLS: "STARTTLS",
    RemoteAccount.Security.NONE: gettext_noop("plain text"),
}
SHORT_ERROR = 90
# Marked for translation, translated where shown: tests and callers compare the English.
TLS_WARNING = gettext_noop("⚠ TLS certificate NOT verified")


def state(account) -> tuple[str, str]:
    if not account.enabled:
        return gettext_noop("Disabled"), "muted"
    if account.lease_token and account.lease_expires and account.lease_expires > timezone.now():
        return gettext_noop("Checking"), "info"
    if not account.last_status:
        return gettext_noop("Never checked"), "muted"
    if edited_since_error(account):
        return gettext_noop("Changed, check due"), "info"
    return BADGES.get(account.last_status, (account.last_status, "muted"))


def edited_since_error(account) -> bool:
    # A failed run always counts a failure; none counted means the account was
    # changed since (retrieval.status.reset_after_edit) and the error is old news.
    return account.last_status == Run.Status.ERROR and not account.consecutive_failures


def badge(account):
    text, kind = state(account)
    return format_html('<span class="popadmin-badge popadmin-badge--{}">{}</span>', kind,
                       gettext(text))


def kind_label(account):
    """"POP3 · TLS"; an unverified certificate or plain text is marked in words."""
    protocol = account.get_protocol_display()
    if account.security == RemoteAccount.Security.NONE:
        return format_html('{} · <span class="popadmin-danger">⚠ {}</span>', protocol,
                           gettext("plain text"))
    label = f"{protocol} · {gettext(SECURITY_SHORT.get(account.security, '?'))}"
    if account.tls_unverified:
        return format_html('{} <span class="popadmin-badge popadmin-badge--bad">{}</span>',
                           label, gettext(TLS_WARNING))
    return label


def shorten(text: str, limit: int = SHORT_ERROR) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def problem(account, with_next_step=False):
    """The explanation and the (shortened) exact error, or "" while the account works."""
    why = explain(account.last_error, account.host)
    if why is None:
        return ""
    before = format_html('<span class="popadmin-sub">{}</span>',
                         gettext("Before the last change:")) if edited_since_error(account) else ""
    step = format_html('<span class="popadmin-next">{}</span>', why.next_step) \
        if with_next_step else ""
    return format_html(
        '{}<span class="popadmin-why">{}</span>{}<span class="popadmin-raw">{}</span>',
        before, why.summary, step, shorten(account.last_error) if not with_next_step
        else account.last_error,
    )


def when(value) -> str:
    """A short local time for narrow columns: "2026-05-03 14:02"."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"

