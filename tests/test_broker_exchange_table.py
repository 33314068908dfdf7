"""The embedded broker's exchange tables survive workers starting side by side."""

import json
import subprocess
import sys
import time

import pytest
from kombu import Connection

from popadmin.broker import Transport

WORKERS = 6
EXCHANGES = 40

# Each process binds its own queue to the same fresh exchanges, all starting
# at one instant: what several workers do when they start together.
BIND_SCRIPT = """
import sys, time
from kombu import Connection
from popadmin.broker import Transport
folder, me, start, exchanges = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
options = {"data_folder_in": folder, "data_folder_out": folder,
           "control_folder": folder + "/control", "store_processed": False}
with Connection(transport=Transport, transport_options=options) as conn:
    chan = conn.default_channel
    while time.time() < start:
        pass
    for n in range(exchanges):
        chan._queue_bind(f"x{n}", me, None, me)
        chan.get_table(f"x{n}")
"""


def _options(folder):
    return {"data_folder_in": str(folder), "data_folder_out": str(folder),
            "control_folder": str(folder / "control"), "store_processed": False}


@pytest.fixture
def channel(tmp_path):
    with Connection(transport=Transport, transport_options=_options(tmp_path)) as conn:
        yield conn.default_channel, tmp_path / "control"


def test_workers_binding_at_once_all_start_and_all_keep_their_queue(tmp_path):
    start = time.time() + 1.5
    procs = [
        subprocess.Popen([sys.executable, "-c", BIND_SCRIPT, str(tmp_path), f"q{i}",
                          str(start), str(EXCHANGES)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(WORKERS)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]

    assert [p.returncode for p in procs] == [0] * WORKERS, "\n".join(errors)
    for n in range(EXCHANGES):
        table = json.loads((tmp_path / "control" / f"x{n}.exchange").read_text())
        assert sorted(q[2] for q in table) == [f"q{i}" for i in range(WORKERS)]


def test_a_reader_sees_the_whole_old_table_while_a_new_one_is_written(channel, monkeypatch):
    chan, control = channel
    chan._queue_bind("celery", "first", None, "first")
    seen_while_writing = []

    def encode(text):
        seen_while_writing.append((control / "celery.exchange").read_text())
        return text.encode()

    monkeypatch.setattr("popadmin.broker.str_to_bytes", encode)
    chan._queue_bind("celery", "second", None, "second")
    monkeypatch.undo()

    assert [json.loads(t) for t in seen_while_writing] == [[["first", "", "first"]]]
    assert [q.queue for q in chan.get_table("celery")] == ["second", "first"]


def test_an_empty_table_left_by_a_crash_means_no_queue_yet(channel):
    chan, control = channel
    control.mkdir()
    (control / "celery.exchange").write_bytes(b"")

    assert chan.get_table("celery") == []
    chan._queue_bind("celery", "celery", None, "celery")
    assert [q.queue for q in chan.get_table("celery")] == ["celery"]


def test_deleting_a_queue_unbinds_it_and_leaves_the_others(channel):
    # Names of their own: the virtual transport keeps declared exchanges per
    # process, and this process may have declared Celery's already.
    chan, control = channel
    chan.exchange_declare("unbind-test", "direct")
    for name in ("unbind-a", "unbind-b", "unbind-c"):
        chan.queue_declare(name)
        chan.queue_bind(name, "unbind-test", name)

    chan.queue_delete("unbind-b")

    assert sorted(q.queue for q in chan.get_table("unbind-test")) == ["unbind-a", "unbind-c"]
    assert not [p for p in control.iterdir() if p.name.endswith(".part")]
