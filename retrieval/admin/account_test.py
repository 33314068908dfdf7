"""Test connection in the admin: of what is on the screen, answered in place.

The account page's button posts the form as it stands (typed password
included) and gets JSON back; nothing is saved and the page keeps what was
typed. The stored password is used only where the form still points at the
server it was entered for (retrieval/credential_reuse.py); an OAuth2 grant is
never sent to a changed server, not even to test.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

from retrieval import credential_reuse, probe_limits
from retrieval.explain import ADMIN, USER, explain
from retrieval.oauth.tokens import has_grant, needs_sign_in
from retrieval.probe import probe_account

WHO = {USER: gettext_noop("Next step"), ADMIN: gettext_noop("Next step (for an administrator)")}


def probe_words(user, account) -> dict:
    """Test `account` as staff (rate limited) and say the outcome in words:
    ok, limited, line (what the server said), summary, next_step, who, text."""
    refused = probe_limits.refusal(user, account, staff=True)
    if refused:
        return {"ok": False, "limited": True, "line": refused, "summary": refused,
                "next_step": probe_limits.WHY, "who": "", "text": refused}
    result = probe_account(account)
    if result.ok:
        caps = ", ".join(result.capabilities[:12]) or gettext("none listed")
        text = gettext("Test connection OK: %(summary)s (%(seconds)s s). Server capabilities: "
                       "%(caps)s.") % {"summary": result.summary(),
                                       "seconds": f"{result.seconds:.1f}", "caps": caps}
        return {"ok": True, "limited": False, "line": result.summary(), "summary": "",
                "next_step": "", "who": "", "text": text}
    why = explain(result.error, account.host)
    who = gettext(WHO[why.who])
    return {"ok": False, "limited": False, "line": result.error, "summary": why.summary,
            "next_step": why.next_step, "who": who,
            "text": gettext("%(summary)s %(who)s: %(next_step)s (Server said: %(error)s)") % {
                "summary": why.summary, "who": who, "next_step": why.next_step,
                "error": result.error}}


def test_on_screen(user, form) -> tuple[dict, int]:
    """The answer (JSON-ready) and HTTP status for a Test connection of the bound `form`."""
    form.is_valid()
    problems = {name: [e["message"] for e in errors]
                for name, errors in form.errors.get_json_data().items()
                if name in TESTED_FIELDS}
    if problems:
        return {"ok": False, "errors": problems}, 400
    account = form.instance
    if form.server_changed and not form.uses_password(form.cleaned_data) and has_grant(account):
        return {"ok": False, "errors": {"host": [credential_reuse.SIGN_IN_AGAIN]}}, 400
    if needs_sign_in(account):
        return {"ok": False, "limited": False, "line": "", "who": "Next step",
                "summary": "This account signs in at its provider, not with a password.",
                "next_step": "Save: you are sent to the provider to sign in, and come back."}, 200
    if form.cleaned_data.get("password"):
        account.set_password(form.cleaned_data["password"])
    outcome = probe_words(user, account)
    return outcome, 429 if outcome["limited"] else 200


# Errors in these fields stop a test; others (owner, schedule, folders' destinations)
# do not matter to a login and are left for Save.
TESTED_FIELDS = {"protocol", "security", "host", "port", "verify_tls", "username",
                 "auth_method", "password", "folders", "network_restricted"}
