"""Retrieval's admin pages; Django imports this package as the app's admin module.

settings: the global settings and the per-user overrides (inline on the mailbox);
accounts: remote accounts (list, status, Test connection, Check now); runs: history.
"""

from retrieval.admin import accounts, runs, settings  # noqa: F401  (they register)
from retrieval.admin.accounts import TLS_WARNING

__all__ = ["TLS_WARNING"]
from retrieval.oauth import admin as _oauth_admin  # noqa: E402,F401  OAuth2 providers and grants
