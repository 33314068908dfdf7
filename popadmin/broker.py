"""kombu's filesystem transport, with messages and tables that appear atomically.

The stock transport creates a file under its final name and then writes it.
A worker polling the folder can claim a message while it is still empty and
die on the JSON ("Unrecoverable error: JSONDecodeError"); a worker starting
beside another can read an exchange table the other has just created and not
yet filled, and die the same way. Here both are written under a name nobody
reads, flushed, and renamed into place: a reader sees all of it or nothing.
Changes to a table are read-modify-write under a lock file of its own, so two
workers binding at once both keep their queue.
"""

import os
import uuid
from contextlib import contextmanager
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads


def _replace(final, text):
    """Write *text* beside *final*, then rename it into place."""
    partial = f"{final}.{uuid.uuid4().hex}.part"  # never ends in ".msg" or ".exchange"
    try:
        with open(partial, "wb") as f:
            f.write(str_to_bytes(text))
        os.replace(partial, final)
    except BaseException:
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        try:
            _replace(final, dumps(payload))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    # Exchange tables -----------------------------------------------------

    @contextmanager
    def _table_lock(self, file):
        self.control_folder.mkdir(parents=True, exist_ok=True)
        with open(f"{file}.lock", "ab") as lock_file:
            filesystem.lock(lock_file, filesystem.LOCK_EX)
            try:
                yield
            finally:
                filesystem.unlock(lock_file)

    def _read_table(self, file):
        try:
            text = bytes_to_str(file.read_bytes())
        except FileNotFoundError:
            return []
        # An empty file is what the stock transport leaves when it dies
        # between creating a table and writing it: no queue is bound yet.
        return [filesystem.exchange_queue_t(*q) for q in loads(text)] if text.strip() else []

    def _change_table(self, exchange, change):
        file = self._exchange_file(exchange)
        try:
            with self._table_lock(file):
                queues = self._read_table(file)
                if change(queues):
                    _replace(file, dumps(queues))
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            return self._read_table(file)
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")

        def bind(queues):
            if entry in queues:
                return False
            queues.insert(0, entry)
            return True

        self._change_table(exchange, bind)

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # The virtual channel's own bookkeeping, skipping the stock
        # transport's in-place rewrite of the table.
        virtual_delete = super(filesystem.Channel, self)._delete
        virtual_delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")

        def unbind(queues):
            if entry not in queues:
                return False
            queues.remove(entry)
            return True

        self._change_table(exchange, unbind)


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault("popadmin-filesystem", "popadmin.broker:Transport")
