from retrieval.models.account import RemoteAccount
from retrieval.models.alert import AlertEpisode
from retrieval.models.check_state import CheckTotals, FolderMark
from retrieval.models.claim import AccountClaim
from retrieval.models.heartbeat import Heartbeat
from retrieval.models.oauth import OAuthGrant, OAuthProvider
from retrieval.models.pending_import import PendingImport
from retrieval.models.push import PushLatency, PushWatch, PushWatcher
from retrieval.models.refused import RefusedMessage
from retrieval.models.run import Run
from retrieval.models.seen import SeenMessage
from retrieval.models.settings import EffectiveSettings, GlobalSettings, UserSettings
from retrieval.models.stats import HourlyStats

__all__ = [
    "AccountClaim",
    "AlertEpisode",
    "CheckTotals",
    "EffectiveSettings",
    "FolderMark",
    "GlobalSettings",
    "Heartbeat",
    "HourlyStats",
    "OAuthGrant",
    "OAuthProvider",
    "PendingImport",
    "PushLatency",
    "PushWatch",
    "PushWatcher",
    "RefusedMessage",
    "RemoteAccount",
    "Run",
    "SeenMessage",
    "UserSettings",
]
