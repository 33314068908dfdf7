"""Push: IMAP IDLE connections held by `manage.py watch` (docs/architecture/push.md)."""
