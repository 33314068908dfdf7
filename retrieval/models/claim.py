"""A fetch task queued for an account: the dispatcher's claim (retrieval/dispatcher.py).

A row of its own, not a column of the account: a tick claims thousands of
accounts, and an update of the wide account row writes every one of its
indexes (the claim's own index makes no update of it HOT). Here a claim is
one narrow row with two small indexes, written for the whole tick by one
INSERT ... ON CONFLICT.

A claim is a time, not a flag: while `until` is ahead no other dispatch or
request queues the account again; if the broker loses the task, the claim
simply runs out and the account is due again. The session start
(RemoteAccount.take_lease) and a refused start (dispatcher._give_back)
delete it; an expired row left behind means nothing and is overwritten by
the next claim.
"""

from django.db import models


class AccountClaim(models.Model):
    account = models.OneToOneField(
        "retrieval.RemoteAccount",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="claim",
    )
    # Also the line: claims run out in the order they were made (account_card._ahead).
    until = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"account {self.account_id} claimed until {self.until:%Y-%m-%d %H:%M:%S}"
