"""Which remote accounts are held to public addresses, and the policy that holds them.

The checks themselves live in popadmin/net/reach.py (no Django);
this module reads the administrator's settings into a ReachPolicy. LMTP
sockets and SMTP relays are not covered: only staff configure those.
"""

from django.conf import settings

from popadmin.net.reach import ReachPolicy, policy_from
from retrieval.models import GlobalSettings

# A form waits this long at most for DNS before answering.
FORM_DNS_SECONDS = 5.0


def policy(global_settings=None) -> ReachPolicy:
    gs = global_settings or GlobalSettings.load()
    return policy_from(
        gs.effective_allowed_ports(),
        gs.allowed_internal_networks or [],
        settings.POPADMIN_DNS_SERVERS,
    )


def is_restricted(account, global_settings=None) -> bool:
    if account.network_restricted:
        return True
    gs = global_settings or GlobalSettings.load()
    return gs.restrict_all_accounts


def reach_for(account, global_settings=None) -> ReachPolicy | None:
    """The check to run at connect time, or None for an unrestricted account."""
    gs = global_settings or GlobalSettings.load()
    return policy(gs) if is_restricted(account, gs) else None
