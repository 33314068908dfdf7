"""Message-ID duplicate check: within a session, and against recent deliveries."""

import datetime as dt

from django.utils import timezone

from delivery.models import Delivery

# How far back a delivery to the same mailbox counts as "already here".
RECENT = dt.timedelta(days=30)


class DuplicateFilter:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._session: set[tuple[int, str]] = set()

    def is_duplicate(self, mailbox_id: int, key: str) -> bool:
        if not self.enabled:
            return False
        if (mailbox_id, key) in self._session:
            return True
        return Delivery.objects.filter(
            mailbox_id=mailbox_id,
            message_key=key,
            result=Delivery.Result.DELIVERED,
            created__gte=timezone.now() - RECENT,
        ).exists()

    def remember(self, mailbox_id: int, key: str):
        self._session.add((mailbox_id, key))
