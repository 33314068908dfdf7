"""OAuth2 sign-in for remote accounts (issue 13): providers, grants, the browser and device flows.

The OAuth protocol itself is Authlib's (client.py); this package keeps the
grant state, refreshes access tokens at session start (tokens.py) and
serves the connect pages (views.py).
"""
