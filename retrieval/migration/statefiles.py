"""The other retrievers' memory of what they took: fetchmail's .fetchids, getmail's oldmail-*.

Read into popadmin's seen-state uids (retrieval.models.SeenMessage.uid):
the POP3 UIDL as the server sends it, or "<folder>/<UIDVALIDITY>/<UID>".

- .fetchids (fetchmail's uid.c): one "remoteuser@host UIDL" line per POP3
  message left on the server. The user part may hold spaces and "@", so it
  splits at the first blank after the first "@", and user from host at the
  last "@" before it. fetchmail records no IMAP state at all: it relies on
  the server's \\Seen flag, which serverseen.py reads at import.
- oldmail-SERVER-PORT-USER[-FOLDER] (getmail6): "msgid\\0timestamp" lines; the
  msgid is the POP3 UIDL with "/" turned into "-", or "UIDVALIDITY/UID" for
  IMAP, one file per folder (older getmail: "UIDVALIDITY/FOLDER/UID").
"""

import re

# getmail's STRIP_CHAR_RE: characters it replaces in oldmail file names.
_STRIP = re.compile(r"[/\\:;<>|]+")


def read_fetchids(text):
    """{(remote user, host), both lower case: [UIDL, ...]} from a .fetchids file."""
    found = {}
    for raw in text.splitlines():
        line = raw.lstrip(" \t")
        at = line.find("@")
        blank = line.find(" ", at) if at >= 0 else -1
        if blank < 0:
            continue
        userhost, uid = line[:blank].rstrip(" \t"), line[blank:].lstrip(" ")
        uid = re.split(r"[ \t\n]", uid, maxsplit=1)[0]
        user, _, host = userhost.rpartition("@")
        if uid:
            found.setdefault((user.lower(), host.lower()), []).append(uid)
    return found


def oldmail_name(server, port, username, folder=None):
    """The file name getmail gives the state of this account (and IMAP folder)."""
    name = _STRIP.sub("-", f"oldmail-{server}-{port}-{username}")
    if folder is not None:
        name += "-" + _STRIP.sub(".", folder)
    return name


def read_oldmail(text, folder=None):
    """popadmin uids from one oldmail file; `folder` is the IMAP folder it belongs to."""
    uids = []
    for raw in text.splitlines():
        line = raw.strip()
        if "\0" not in line:
            continue
        msgid = line.split("\0", 1)[0]
        if folder is None:
            uids.append(msgid)
            continue
        parts = msgid.split("/")
        if len(parts) == 3:  # pre-4.22 getmail: UIDVALIDITY/FOLDER/UID
            parts = [parts[0], parts[2]]
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            uids.append(f"{folder}/{parts[0]}/{parts[1]}")
    return uids
