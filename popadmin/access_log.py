"""The web server's access log without the secrets some addresses carry.

The OAuth2 callback's query string holds the authorization code (and the
state): whoever reads the log could swap a code not yet used for the
account's tokens. Its query string is replaced by "?[hidden]" in every
field that would show it; other requests are logged as gunicorn logs them.
"""

from urllib.parse import urlsplit

from gunicorn.glogging import Logger

# Paths (as routed, without a proxy's SCRIPT_NAME) whose query strings are never logged.
PRIVATE_QUERY_PATHS = ("/oauth/callback",)
HIDDEN = "[hidden]"


def private(path: str) -> bool:
    return path.rstrip("/") in PRIVATE_QUERY_PATHS


class AccessLogger(Logger):
    """gunicorn's logger (`--logger-class popadmin.access_log.AccessLogger`)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        if private(environ.get("PATH_INFO") or ""):
            path = urlsplit(environ.get("RAW_URI") or "").path
            atoms["r"] = f"{environ['REQUEST_METHOD']} {path}?{HIDDEN} {environ['SERVER_PROTOCOL']}"
            atoms["q"] = HIDDEN
            for key in ("{raw_uri}e", "{query_string}e"):
                atoms[key] = HIDDEN
        referer = atoms.get("f") or ""
        if private(urlsplit(referer).path) and urlsplit(referer).query:
            atoms["f"] = urlsplit(referer)._replace(query=HIDDEN).geturl()
            atoms["{referer}i"] = atoms["f"]
        return atoms
