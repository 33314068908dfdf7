"""The login-trigger API: the local mail server reports a POP3/IMAP login."""

import hashlib
import hmac
import json

from django.conf import settings
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from retrieval import triggers

MAX_ADDRESS_LENGTH = 320


@csrf_exempt
def login_trigger(request):
    """The local mail server reports a POP3/IMAP login: check that mailbox's accounts."""
    token = settings.POPADMIN_TRIGGER_TOKEN
    if not token:
        raise Http404  # off unless configured: no token, no endpoint
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not _bearer_matches(request, token):
        response = JsonResponse({"error": "invalid token"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="popadmin"'
        return response
    try:
        data = _trigger_fields(request)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    triggers.on_mail_login(data["address"], data["service"])
    # The same answer whether or not the address exists or anything was queued.
    return JsonResponse({"status": "accepted"}, status=202)


def _bearer_matches(request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    # Digests first, so neither the content nor the length of the token leaks.
    digest = hashlib.sha256
    return hmac.compare_digest(digest(given.strip().encode()).digest(),
                               digest(token.encode()).digest())


def _storable(text: str) -> bool:
    """No lone surrogate (JSON allows one, UTF-8 and the database do not) and no control
    character (PostgreSQL text cannot hold NUL; no address has any)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return text.isprintable()


def _trigger_fields(request) -> dict:
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: nesting deeper than the interpreter's stack.
            raise ValueError("the body is not valid JSON")
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
    else:
        body = request.POST
    address, service = body.get("address"), body.get("service")
    if not isinstance(address, str) or not address.strip() or len(address) > MAX_ADDRESS_LENGTH:
        raise ValueError("address is required")
    if not _storable(address):
        raise ValueError("address is not a valid address")
    if service not in triggers.LOGIN_SERVICES:
        raise ValueError("service must be pop3 or imap")
    return {"address": address, "service": service}
