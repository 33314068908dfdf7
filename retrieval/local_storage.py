"""Free space of the local storage the service writes to, for /healthz, the
dashboard and the storage alert (docs/operators/storage.md).

Two places: MAIL_ROOT (the Maildirs) and SPOOL_DIR (a large message between
its download and its delivery). A place is low when its file system has less
free space than POPADMIN_MIN_FREE_MB, or a smaller share of its space or of
its file entries (inodes: Maildir is a file per message) than
POPADMIN_MIN_FREE_PERCENT; it is unusable when it is mounted read-only or the
service may not write to it. Either is not ok. The figures are read with one
statvfs(2) each: cheap enough for every /healthz and every dashboard refresh.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings

MB = 1024 * 1024
LABELS = {"mail_root": "mail storage (MAIL_ROOT)", "spool": "spool (SPOOL_DIR)"}


@dataclass(frozen=True)
class Place:
    name: str  # "mail_root" or "spool"
    path: Path
    free_bytes: int = 0
    total_bytes: int = 0
    free_inodes_percent: float | None = None  # None: the file system does not count them
    problem: str = ""  # why it is not ok, in a few words; "" when it is

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def label(self) -> str:
        return LABELS[self.name]

    @property
    def free_mb(self) -> int:
        return self.free_bytes // MB

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 100.0

    def health(self) -> dict:
        """For /healthz: figures and the problem, never the path (it is public)."""
        report = {"ok": self.ok, "free_mb": self.free_mb,
                  "free_percent": round(self.free_percent, 2)}
        if self.problem:
            report["error"] = self.problem
        return report


def places() -> list[Place]:
    return [measure("mail_root", Path(settings.MAIL_ROOT)),
            measure("spool", Path(settings.SPOOL_DIR))]


def check() -> dict:
    """The /healthz entry: ok while every place is."""
    measured = places()
    return {"ok": all(p.ok for p in measured), **{p.name: p.health() for p in measured}}


def measure(name: str, path: Path) -> Place:
    # A fresh installation makes MAIL_ROOT at its first delivery: until then
    # the folder it will be made in is what the mail will fill.
    where = _existing(path)
    try:
        fs = os.statvfs(where)
    except OSError as exc:
        return Place(name, path, problem=f"cannot be measured: {exc.strerror or exc}")
    free, total = fs.f_bavail * fs.f_frsize, fs.f_blocks * fs.f_frsize
    inodes = 100.0 * fs.f_favail / fs.f_files if fs.f_files else None
    place = Place(name, path, free, total, inodes)
    return replace(place, problem=_problem(place, fs, where))


def _problem(place: Place, fs, where: Path) -> str:
    min_mb = settings.POPADMIN_MIN_FREE_MB
    min_percent = settings.POPADMIN_MIN_FREE_PERCENT
    if fs.f_flag & os.ST_RDONLY:
        return "mounted read-only"
    if not os.access(where, os.W_OK | os.X_OK):
        return "not writable by the service"
    if place.free_bytes < min_mb * MB:
        return f"{place.free_mb} MB free, below the minimum of {min_mb} MB"
    if place.free_percent < min_percent:
        return f"{place.free_percent:.2g}% free, below the minimum of {min_percent:g}%"
    if place.free_inodes_percent is not None and place.free_inodes_percent < min_percent:
        return (f"{place.free_inodes_percent:.2g}% of file entries (inodes) free, "
                f"below the minimum of {min_percent:g}%")
    return ""


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
