"""From files to a migration: read the rc and state files, then import (service.migrate)."""

import os

from . import fetchmail_entries, fetchmailrc, getmailrc, placement, serverseen, statefiles
from .rclexer import RcSyntaxError
from .service import MigrationError, migrate


def import_fetchmailrc(text, filename, state=None, owner=None, dry_run=False,
                       seen_from_server=True, confirmed=False):
    """`state`: the text of a .fetchids file, or None.

    `seen_from_server`: record the messages of IMAP `keep` accounts flagged
    \\Seen on the server as taken (fetchmail's only IMAP memory); done in a
    dry run too, so the preview shows the real counts. `confirmed`: see
    service.migrate.
    """
    try:
        rc = fetchmailrc.parse(text)
    except RcSyntaxError as e:
        raise MigrationError([f"{filename}: syntax error at {e}; nothing imported"])
    candidates = fetchmail_entries.candidates(rc, filename)
    for c in candidates:
        # The protocol decides whether the .fetchids lines apply.
        if not c.refused:
            placement.resolve_protocol(c)
    unused = []
    if state is not None:
        unused = placement.attach_fetchids(candidates, statefiles.read_fetchids(state))
    serverseen.attach_server_seen(candidates, seen_from_server)
    return migrate(candidates, unused, owner, dry_run, confirmed=confirmed)


def import_getmailrcs(files, states=(), owner=None, dry_run=False, confirmed=False):
    """`files` and `states`: (name, text) pairs; state files are matched by their names."""
    candidates, errors = [], []
    for name, text in files:
        try:
            candidates.append(getmailrc.read(text, name))
        except RcSyntaxError as e:
            errors.append(f"{name}: syntax error at {e}")
    if errors:
        raise MigrationError(errors + ["nothing imported"])
    state_texts = {os.path.basename(name): text for name, text in states}
    unused = placement.attach_oldmail(candidates, state_texts)
    return migrate(candidates, unused, owner, dry_run, confirmed=confirmed)
