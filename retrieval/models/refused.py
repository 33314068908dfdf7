"""Remote messages that could not be fetched whole, counted across runs."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Failed fetches of one message (in as many runs) after which it is left on
# the server and not asked for again (docs/architecture/no-loss/refused-messages.md).
MAX_ATTEMPTS = 3


class RefusedMessage(models.Model):
    """A message the server refused to send, sent cut short, or lost the
    connection on. After MAX_ATTEMPTS it is left alone; the record goes when
    the message is fetched after all, is no longer on the server, or an
    administrator deletes it (the next run then tries it again)."""

    MAX_ATTEMPTS = MAX_ATTEMPTS  # for templates

    account = models.ForeignKey("retrieval.RemoteAccount", on_delete=models.CASCADE,
                                related_name="refused_messages")
    uid = models.CharField(max_length=512)  # as in SeenMessage
    size = models.PositiveBigIntegerField(_("listed size"), default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    reason = models.TextField(_("last reason"), blank=True)
    first_failed = models.DateTimeField(default=timezone.now)
    last_failed = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["first_failed", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["account", "uid"], name="unique_refused_uid")
        ]

    def __str__(self):
        return f"{self.uid} ({self.attempts} failed attempts)"

    @property
    def left_alone(self) -> bool:
        return self.attempts >= MAX_ATTEMPTS

    def summary(self) -> str:
        """One line for the account page, the run and the alert."""
        if self.left_alone:
            state = (f"left on the server after {self.attempts} failed attempts, "
                     "not fetched again until an administrator retries it")
        else:
            state = (f"failed {self.attempts} of {MAX_ATTEMPTS} attempts, "
                     "tried again at the next check")
        return f"message {self.uid} ({self.size} bytes): {state}; last reason: {self.reason}"
