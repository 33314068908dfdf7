"""A real small file system for the tests of a full or read-only local disk:
a tmpfs of its own, mounted for the test and unmounted after it.

Mounting needs root (the suite runs as root, here and in CI). Without it the
test fails and says so: a full disk faked in Python would not test what the
kernel answers.
"""

import contextlib
import os
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(path: Path, size: str = "2m"):
    """A tmpfs of `size` mounted at `path` for the duration of the block."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.fail("a real full disk needs a tmpfs of its own: run the suite as root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                              str(path)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the full-disk test: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def fill(path: Path, leave: int = 0) -> Path:
    """Fill the file system of `path` until at most `leave` bytes are free; the
    filler file's path is returned (remove it to make room again)."""
    filler = path / "filler"
    chunk = b"x" * 4096
    with open(filler, "wb", buffering=0) as out:
        try:
            while free_bytes(path) > leave + len(chunk):
                out.write(chunk)
            if not leave:
                while True:
                    out.write(chunk)
        except OSError:
            pass  # full
    return filler


def free_bytes(path: Path) -> int:
    fs = os.statvfs(path)
    return fs.f_bavail * fs.f_frsize


def read_only(path: Path):
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
