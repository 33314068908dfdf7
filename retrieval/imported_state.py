"""Seen-state an import wrote (SeenMessage.Origin.IMPORTED), as the account forms tell it.

Another retriever's memory (fetchmail's .fetchids, getmail's oldmail files)
or the server's \\Seen flags say a message was taken, not that popadmin ever
stored it: such a row stops a redelivery and never allows a deletion
(retrieval/identity.py, docs/architecture/no-loss/imported-state.md). An operator who
switches such an account to a keep policy that deletes is told so.
"""

from django.utils.translation import gettext as _

from retrieval.models import RemoteAccount, SeenMessage

DELETING = (RemoteAccount.Keep.DELETE, RemoteAccount.Keep.KEEP_DAYS)


def imported_count(account) -> int:
    if account.pk is None:
        return 0
    return SeenMessage.objects.filter(account=account,
                                      origin=SeenMessage.Origin.IMPORTED).count()


def notice(count: int) -> str:
    return _("%(count)s message(s) on this server are recorded as already taken by an import "
             "(fetchmail, getmail or the server's \\Seen flags), not downloaded by popadmin. "
             "No keep policy deletes them: they stay on the server, untouched and not fetched, "
             "until removed there.") % {"count": count}


def keep_policy_notice(account, changed_fields) -> str | None:
    """What to tell whoever just changed the account's keep policy to one that deletes."""
    if not {"keep_policy", "keep_days"} & set(changed_fields):
        return None
    if account.keep_policy not in DELETING:
        return None
    count = imported_count(account)
    return notice(count) if count else None
