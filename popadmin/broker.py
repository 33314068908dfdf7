"""kombu's filesystem transport, with messages that appear atomically.

The stock transport creates the message file under its final name and then
writes it, so a worker polling the folder can claim the file while it is
still empty and die on the JSON ("Unrecoverable error: JSONDecodeError").
Here a message is written under a name consumers ignore, flushed, and
renamed into place: a consumer sees all of it or nothing.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # does not end in ".<queue>.msg": never picked up
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.rename(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault("popadmin-filesystem", "popadmin.broker:Transport")
