"""A small OAuth2 authorization server on 127.0.0.1, for tests (the TEST side only).

It speaks just enough of RFC 6749 (authorization code, refresh), 7636 (PKCE
S256, checked), 8628 (device code), 7009 (revocation) and 7662
(introspection, which the test Dovecot asks about every login) for the
product's Authlib client to run against. Sign-in is automatic: /authorize
approves at once as `self.user` (default: the login_hint), so a browser
test only has to follow redirects.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse


class OAuthServer:
    def __init__(self, client_id="popadmin-test", client_secret="s3cret-client", expires_in=3600):
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.user: str | None = None  # who signs in at /authorize; None: the login_hint
        self.codes: dict[str, dict] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.access_tokens: dict[str, tuple[str, float, str]] = {}  # -> (user, expiry, refresh)
        self.devices: dict[str, dict] = {}  # device_code -> {user_code, user}
        self.requests: list[tuple[str, dict]] = []  # (path, form) of every request
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                server._record(url.path, parse_qs(url.query))
                if url.path != "/authorize":
                    return self._json(404, {"error": "not_found"})
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                status, location = server.authorize(query)
                self.send_response(status)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                path = urlparse(self.path).path
                server._record(path, form)
                handler = {
                    "/token": server.token, "/device": server.device,
                    "/introspect": server.introspect, "/revoke": server.revoke,
                }.get(path)
                if handler is None:
                    return self._json(404, {"error": "not_found"})
                status, body = handler(form, self.headers)
                self._json(status, body)

            def _json(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()

    def _record(self, path, form):
        with self.lock:
            self.requests.append((path, form))

    def count(self, path: str, grant_type: str | None = None) -> int:
        return sum(
            1 for p, f in self.requests
            if p == path and (grant_type is None or f.get("grant_type") == grant_type)
        )

    # -- endpoints ---------------------------------------------------------

    def authorize(self, q):
        redirect = q.get("redirect_uri", "")
        if q.get("client_id") != self.client_id or not redirect:
            return 400, "about:blank"
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return 302, redirect + "?" + urlencode({"error": "invalid_request",
                                                    "state": q.get("state", "")})
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {
                "user": self.user or q.get("login_hint", ""), "challenge": q["code_challenge"],
                "redirect_uri": redirect, "scope": q.get("scope", ""),
            }
        return 302, redirect + "?" + urlencode({"code": code, "state": q.get("state", "")})

    def _client_ok(self, form, headers) -> bool:
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id"), form.get("client_secret")
        return cid == self.client_id and secret == self.client_secret

    def token(self, form, headers):
        if not self._client_ok(form, headers):
            return 401, {"error": "invalid_client"}
        grant = form.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                entry = self.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(
                    hashlib.sha256(verifier.encode()).digest()
                ).rstrip(b"=").decode()
                if entry is None or entry["challenge"] != challenge or (
                    entry["redirect_uri"] != form.get("redirect_uri")
                ):
                    return 400, {"error": "invalid_grant"}
                return 200, self._issue(entry["user"], entry["scope"], None)
            if grant == "refresh_token":
                user = self.refresh_tokens.get(form.get("refresh_token", ""))
                if user is None:
                    return 400, {"error": "invalid_grant"}
                return 200, self._issue(user, "", form["refresh_token"])
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                device = self.devices.get(form.get("device_code", ""))
                if device is None:
                    return 400, {"error": "expired_token"}
                if device["user"] is None:
                    return 400, {"error": "authorization_pending"}
                del self.devices[form["device_code"]]
                return 200, self._issue(device["user"], device["scope"], None)
        return 400, {"error": "unsupported_grant_type"}

    def _issue(self, user, scope, refresh):
        access = "at-" + secrets.token_urlsafe(24)
        if refresh is None:
            refresh = "rt-" + secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = user
        self.access_tokens[access] = (user, time.time() + self.expires_in, refresh)
        claims = base64.urlsafe_b64encode(json.dumps({"email": user}).encode()).rstrip(b"=")
        body = {
            "access_token": access, "token_type": "Bearer", "expires_in": self.expires_in,
            "refresh_token": refresh, "id_token": f"e30.{claims.decode()}.sig",
        }
        if scope:
            body["scope"] = scope
        return body

    def device(self, form, headers):
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        code, user_code = secrets.token_urlsafe(16), secrets.token_hex(4).upper()
        with self.lock:
            self.devices[code] = {"user_code": user_code, "user": None,
                                  "scope": form.get("scope", "")}
        return 200, {"device_code": code, "user_code": user_code, "interval": 1,
                     "verification_uri": f"{self.url}/activate", "expires_in": 600}

    def approve_device(self, user_code: str, user: str):
        with self.lock:
            for device in self.devices.values():
                if device["user_code"] == user_code:
                    device["user"] = user
                    return
        raise KeyError(user_code)

    def introspect(self, form, headers):
        with self.lock:
            entry = self.access_tokens.get(form.get("token", ""))
        if entry is None or entry[1] < time.time():
            return 200, {"active": False}
        return 200, {"active": True, "username": entry[0], "exp": int(entry[1])}

    def revoke(self, form, headers):
        self.revoke_all(form.get("token", ""))
        return 200, {}

    def revoke_all(self, refresh_token: str):
        """What a user does at the provider's security page: the grant and its tokens go."""
        with self.lock:
            self.refresh_tokens.pop(refresh_token, None)
            for access, (_, _, refresh) in list(self.access_tokens.items()):
                if refresh == refresh_token:
                    del self.access_tokens[access]

    def expire_access_tokens(self):
        with self.lock:
            self.access_tokens = {
                k: (u, 0.0, r) for k, (u, _, r) in self.access_tokens.items()
            }
