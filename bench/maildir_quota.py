"""Time per Maildir delivery with a quota: into an empty mailbox vs a 100,000-message one.

The quota check reads the Maildir++ maildirsize file (delivery/maildirsize.py);
each delivery appends a line, and the file is counted again from the folders
when it passes 5120 bytes (about every 700 deliveries here), which the
per-delivery figures include. For scale, the same run times what each delivery
cost before, a listing of every folder (delivery.maildir.usage_bytes), and one
count of the big mailbox (what its first delivery, or one after a recount is
due, pays).

    .venv/bin/python bench/maildir_quota.py [--messages 100000] [--deliveries 1500]
"""

import argparse
import io
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import scratch  # noqa: E402
from delivery import maildirsize  # noqa: E402
from delivery.backends import MaildirBackend, MaildirSettings, Recipient  # noqa: E402
from delivery.maildir import usage_bytes  # noqa: E402

MESSAGE = b"From: bench@example.test\nSubject: quota\n\n" + b"x" * 4000 + b"\n"
GB = 1024**3


def fill(home: Path, n: int):
    """n messages, as names only: sizes come from S= (as Dovecot's and ours carry)."""
    for sub in ("tmp", "new", "cur"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    # Most mail is read (cur/), some sits in folders, as in a real mailbox.
    folders = [home, home / ".Archive", home / ".Lists.Python"]
    for folder in folders[1:]:
        for sub in ("tmp", "new", "cur"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        folder = folders[i % 3]
        (folder / "cur" / f"{1700000000 + i}.M{i}P1Q1.bench,S={4000 + i % 997}:2,S").touch()


def deliveries(root: Path, addresses: list[str], count: int) -> dict[str, list[float]]:
    """`count` deliveries into each mailbox, taking turns, so load on the machine hits both."""
    backend = MaildirBackend(MaildirSettings(root))
    times = {address: [] for address in addresses}
    for _ in range(count):
        for address in addresses:
            recipient = Recipient(address, quota=100 * GB)
            started = time.perf_counter()
            [outcome] = backend.deliver(io.BytesIO(MESSAGE), len(MESSAGE), "", [recipient],
                                        lambda to: b"")
            times[address].append(time.perf_counter() - started)
            assert outcome.status == "delivered", outcome.detail
    return times


def report(label: str, times: list[float]) -> float:
    mean, median = statistics.fmean(times), statistics.median(times)
    print(f"{label:<44} mean {mean * 1000:7.3f} ms  median {median * 1000:7.3f} ms"
          f"  max {max(times) * 1000:7.1f} ms")
    return mean


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--deliveries", type=int, default=1500)
    args = parser.parse_args()
    root = scratch("popadmin-quota-bench-")
    try:
        big = root / "bench.test" / "big"
        started = time.perf_counter()
        fill(big, args.messages)
        print(f"made a {args.messages:,}-message mailbox in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        maildirsize.recount(big, 100 * GB)
        count_ms = (time.perf_counter() - started) * 1000
        scans = []
        for _ in range(5):
            started = time.perf_counter()
            usage_bytes(big)
            scans.append(time.perf_counter() - started)
        scan_ms = statistics.median(scans) * 1000

        times = deliveries(root, ["empty@bench.test", "big@bench.test"], args.deliveries)
        empty = report(f"into an empty mailbox ({args.deliveries} deliveries)",
                       times["empty@bench.test"])
        full = report(f"into the {args.messages:,}-message one", times["big@bench.test"])
        print(f"one count of the big mailbox (recount)       {count_ms:7.1f} ms")
        print(f"before: a listing of it at every delivery    {scan_ms:7.1f} ms (+ the delivery)")
        print(f"big / empty: {full / empty:.2f}x   "
              f"before / now (big): {(scan_ms / 1000 + empty) / full:.0f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
