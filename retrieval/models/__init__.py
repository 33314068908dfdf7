from retrieval.models.account import RemoteAccount, SeenMessage
from retrieval.models.run import Run
from retrieval.models.settings import EffectiveSettings, GlobalSettings, UserSettings

__all__ = [
    "EffectiveSettings",
    "GlobalSettings",
    "RemoteAccount",
    "Run",
    "SeenMessage",
    "UserSettings",
]
