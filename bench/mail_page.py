"""The mail page with 100,000 messages in PostgreSQL and in the Maildir
(targets: a page of the list in under 200 ms; a 10 MB message opens in under
a second).

Fills a scratch database with one user's 100,000 Delivery rows
(generate_series) and writes the matching 100,000 files into their Maildir
(half unread in new/, half read in cur/), plus a 10 MB text message and a
10 MB HTML one; then times through the Django test client: the first,
middle and last pages, searches, an account and folders, the live feed,
opening each 10 MB message and its HTML frame. "first" is the first request
after start (the Maildir listing and the per-account counts not yet kept);
the median and p95 are of the requests after it; "CPU here" is the median
processor time of this process (Django, the template, the Maildir), which a
busy machine does not inflate as much as the wall-clock times. Pages are
addressed as the page's links do (keyset cursors, retrieval/mail_paging.py);
every 100th message is in a folder "Lists" to time a small folder's pages.

    .venv/bin/python bench/mail_page.py [--messages 100000] [--renders 20]
    (DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/bench_mail)
"""

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_mail")

from _setup import scratch  # noqa: E402
from dispatcher_tick import setup_django  # noqa: E402

ADDRESS = "reader@bench.test"
MB = 1024 * 1024


def token(n: int) -> str:
    return hashlib.md5(str(n).encode()).hexdigest()  # noqa: S324 - what PostgreSQL's md5() gives


def populate(messages: int, mail_root: Path):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts.models import Mailbox
    from delivery.models import Delivery
    from retrieval.models import RemoteAccount, Run

    user, _ = get_user_model().objects.get_or_create(username="bench-reader")
    mailbox, _ = Mailbox.objects.get_or_create(address=ADDRESS, defaults={"user": user})
    accounts = []
    for name in ("Work", "Old provider", "Newsletters"):
        account, _ = RemoteAccount.objects.get_or_create(
            owner=mailbox, host="pop.bench.test", username=name, name=name)
        accounts.append(account)
    runs = [Run.objects.create(account=a, trigger="schedule", status="ok") for a in accounts]
    if Delivery.objects.filter(mailbox=mailbox).count() != messages:
        Delivery.objects.filter(mailbox=mailbox).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO delivery_delivery (mailbox_id, run_id, message_key, content_digest,
                    message_id, sender, subject, sent, folder, backend, result, detail, size,
                    recipient, token, remote_uid, created)
                SELECT %s, (ARRAY[%s, %s, %s])[1 + g %% 3], md5(g::text), '', '',
                       'Sender ' || (g %% 500) || ' <s' || (g %% 500) || '@example.test>',
                       'Message number ' || g || ' about topic ' || (g %% 97), now(),
                       CASE WHEN g %% 100 = 0 THEN 'Lists' ELSE '' END,
                       'maildir', 'delivered', '', 300, '', md5(g::text), '',
                       now() - (%s - g) * interval '1 minute'
                FROM generate_series(1, %s) AS g
                """,
                [mailbox.pk, *[r.pk for r in runs], messages, messages],
            )
            cursor.execute("VACUUM ANALYZE delivery_delivery")
    home = mail_root / "bench.test" / "reader"
    for folder in (home, home / ".Lists"):
        for sub in ("new", "cur", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    body = b"From: s@example.test\nSubject: bench\n\nA short message.\n"
    for n in range(1, messages + 1):
        name = f"{n}.M0P0Q{n}R{token(n)}.bench,S={len(body)}"
        folder = home / ".Lists" if n % 100 == 0 else home
        path = folder / "new" / name if n % 2 else folder / "cur" / (name + ":2,S")
        path.write_bytes(body)
    return user, mailbox, runs[0]


def big_messages(mailbox, run):
    from tests.mail_helpers import plain, store

    line = "The quick brown fox jumps over the lazy dog, again and again. " * 2 + "\n"
    text = plain("10 MB of text", line * (10 * MB // len(line)))
    html = plain("10 MB of HTML", "see the HTML part",
                 html="<p>" + "<b>word</b> <a href='https://example.test/'>link</a> "
                 * (10 * MB // 60) + "</p>")
    return store(mailbox, text, run=run), store(mailbox, html, run=run)


def timed(client, url: str, renders: int) -> tuple[float, list[float], list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, cpu = [], []
    for _ in range(renders + 1):
        with CaptureQueriesContext(connection) as queries:
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return times[0], sorted(times[1:]), sorted(cpu[1:]), len(queries)


def report(label: str, first: float, times: list[float], cpu: list[float], queries: int):
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"{label:<44} first {first:7.1f} ms   median {statistics.median(times):6.1f} ms   "
          f"p95 {p95:6.1f} ms   (CPU here {statistics.median(cpu):5.1f} ms)   "
          f"{queries:2d} queries   ({len(times)} requests)", flush=True)


def cursor_at(mailbox, position: int, **filters) -> str:
    """The "older" cursor that starts the list `position` messages down."""
    from retrieval import mail_list
    from retrieval.mail_paging import Cursor

    rows = mail_list.filtered(mailbox, **filters).order_by("-created", "-id")
    created, pk = rows.values_list("created", "id")[position - 1]
    return str(Cursor(created, pk))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--renders", type=int, default=20)
    args = parser.parse_args()
    mail_root = scratch("popadmin-bench-mail-")
    os.environ["MAIL_ROOT"] = str(mail_root)
    setup_django()
    from django.conf import settings
    from django.test import Client

    settings.ALLOWED_HOSTS = ["*"]
    started = time.perf_counter()
    user, mailbox, run = populate(args.messages, mail_root)
    text, html = big_messages(mailbox, run)
    print(f"{args.messages:,} messages in PostgreSQL and the Maildir, ready in "
          f"{time.perf_counter() - started:.1f} s; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    client = Client()
    client.force_login(user)
    middle = cursor_at(mailbox, args.messages // 2)
    last_full = cursor_at(mailbox, args.messages - 50)
    account_middle = cursor_at(mailbox, args.messages // 6, account=run.account_id)
    for label, url in (
        ("/mail/ (first page)", "/mail/"),
        ("/mail/?older= (middle page, 50,000 down)", f"/mail/?older={middle}"),
        ("/mail/?older= (last page by Older)", f"/mail/?older={last_full}"),
        ("/mail/?newer=0_0 (oldest page)", "/mail/?newer=0_0"),
        ("/mail/?newer= (Newer from the middle)", f"/mail/?newer={middle}"),
        ("/mail/?q=topic 42 (search, 1% match)", "/mail/?q=topic+42"),
        ("/mail/?q=topic 42&older= (search, middle)", f"/mail/?q=topic+42&older={middle}"),
        ("/mail/?q=Sender 7 (search, sender)", "/mail/?q=Sender+7"),
        ("/mail/?q=no such words (no match)", "/mail/?q=no+such+words"),
        ("/mail/?account= (account filter)", f"/mail/?account={run.account_id}"),
        ("/mail/?account=&older= (account, middle)",
         f"/mail/?account={run.account_id}&older={account_middle}"),
        ("/mail/?folder=Lists (1% folder)", "/mail/?folder=Lists"),
        ("/mail/?folder=Lists&newer=0_0 (its oldest)", "/mail/?folder=Lists&newer=0_0"),
        ("/mail/?folder=INBOX (99% folder)", "/mail/?folder=INBOX"),
        ("/mail/feed (live list)", f"/mail/feed?after={html.pk}"),
        ("open the 10 MB text message", f"/mail/{text.pk}/"),
        ("open the 10 MB HTML message", f"/mail/{html.pk}/"),
        ("its HTML frame (sanitised)", f"/mail/{html.pk}/body"),
    ):
        report(label, *timed(client, url, args.renders))


if __name__ == "__main__":
    main()
