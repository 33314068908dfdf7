"""The embedded broker never hands a consumer a message that is still being written."""

import queue

import pytest
from kombu import Connection

from popadmin.broker import Transport


@pytest.fixture
def channel(tmp_path):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path),
               "store_processed": False}
    with Connection(transport=Transport, transport_options=options) as conn:
        yield conn.default_channel, tmp_path


def test_it_writes_a_message_whole_under_its_final_name(channel):
    chan, folder = channel
    chan._put("celery", {"body": "x" * 100_000})

    [name] = [p.name for p in folder.iterdir()]
    assert name.endswith(".celery.msg")
    assert chan._get("celery") == {"body": "x" * 100_000}


def test_it_ignores_a_message_still_being_written(channel):
    chan, folder = channel
    (folder / "1_abc.celery.msg.part").write_bytes(b'{"body": "trunc')

    with pytest.raises(queue.Empty):
        chan._get("celery")


def test_it_never_shows_the_final_name_before_the_bytes_are_in(channel, monkeypatch):
    # The stock transport opens "<name>.celery.msg" and then writes: a worker
    # polling in between claims an empty file and dies on the JSON.
    chan, folder = channel
    seen_while_writing = []

    def encode(text):
        seen_while_writing.extend(p.name for p in folder.iterdir())
        return text.encode()

    monkeypatch.setattr("popadmin.broker.str_to_bytes", encode)
    chan._put("celery", {"body": "x"})

    assert seen_while_writing and all(n.endswith(".part") for n in seen_while_writing)
