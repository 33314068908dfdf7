"""Push: IMAP IDLE connections held by `manage.py watch` (docs/push.md)."""
