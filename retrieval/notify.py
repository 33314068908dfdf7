"""Sending alert notices: Django's email (EMAIL_URL) and an optional JSON webhook."""

import json
import logging
import urllib.request
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 10


@dataclass
class Notice:
    subject: str
    body: str  # for the administrators and the webhook: every account concerned
    # Owner address -> the body that owner gets (their own accounts only), or
    # (subject, body) when that owner reads another language than the administrators.
    owners: dict[str, str | tuple[str, str]] = field(default_factory=dict)
    to_admins: bool = True


def admin_addresses() -> list[str]:
    if settings.POPADMIN_ALERT_EMAILS:
        return list(settings.POPADMIN_ALERT_EMAILS)
    users = get_user_model().objects.filter(is_superuser=True, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def send(notice: Notice) -> bool:
    """Send on every channel; True if at least one took it (a failure is logged,
    and a notice no channel took is tried again at the next evaluation)."""
    attempts = []
    if notice.to_admins and (admins := admin_addresses()):
        attempts.append(("mail to administrators", lambda: _mail(notice.subject, notice.body,
                                                                  admins)))
    for address, mail in notice.owners.items():
        # An owner's mail may carry its own subject (in the owner's language).
        subject, body = mail if isinstance(mail, tuple) else (notice.subject, mail)
        attempts.append((f"mail to {address}",
                         lambda a=address, s=subject, b=body: _mail(s, b, [a])))
    if notice.to_admins and settings.POPADMIN_ALERT_WEBHOOK_URL:
        attempts.append(("webhook", lambda: webhook(notice.subject, notice.body)))
    if not attempts:
        return True  # nobody to tell: nothing left to retry
    sent = 0
    for what, attempt in attempts:
        try:
            attempt()
            sent += 1
        except Exception as exc:  # one channel down must not silence the others
            log.warning("alert %r: %s failed: %s", notice.subject, what, exc)
    return sent > 0


def _mail(subject: str, body: str, to: list[str]):
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to, fail_silently=False)


def webhook(title: str, text: str, url: str | None = None):
    """POST {"title", "text"}: Slack-style incoming webhooks read "text"; ntfy
    (and similar) also get the title as a header."""
    url = url or settings.POPADMIN_ALERT_WEBHOOK_URL
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError("the alert webhook must be an http:// or https:// URL")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=json.dumps({"title": title, "text": f"{title}\n\n{text}"}).encode(),
        headers={"Content-Type": "application/json",
                 "Title": title.encode("ascii", "replace").decode()},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
        response.read(1024)
