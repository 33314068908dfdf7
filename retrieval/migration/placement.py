"""Where each candidate goes: its local mailbox, its protocol when `auto`, its seen-state."""

from django.contrib.auth import get_user_model

from accounts.models import Mailbox
from retrieval.models import RemoteAccount
from retrieval.probe import probe_account

from . import statefiles


def find_mailbox(name):
    """The mailbox a local name means: its address, or the login name of its owner."""
    if "@" in name:
        found = Mailbox.objects.filter(address__iexact=name).first()
        if found:
            return found
    user = get_user_model().objects.filter(username=name).first()
    return Mailbox.objects.filter(user=user).first() if user else None


def place_owner(c, default_owner=None):
    """Set c.owner (a Mailbox) from its local names, or refuse the candidate."""
    c.owner = None
    names = list(c.local_names)
    if not names and default_owner:
        names = [default_owner]
    mailboxes = []
    for name in names:
        mailbox = find_mailbox(name)
        if mailbox is None:
            c.refuse(f"local name {name!r} matches no mailbox (by address or login name)")
            return
        mailboxes.append(mailbox)
    if not mailboxes and c.wildcard:
        postmaster = Mailbox.objects.filter(is_postmaster=True).order_by("address").first()
        if postmaster is None:
            c.refuse("multidrop to * needs a postmaster mailbox or --owner to hold the account")
            return
        mailboxes.append(postmaster)
    if not mailboxes:
        c.refuse("names no local mailbox (no `is NAME here`); give one, or use --owner")
        return
    c.owner = mailboxes[0]
    if c.mode == "catchall" and len(mailboxes) > 1:
        c.note("catch-all: mail is delivered by recipient address; the account belongs to "
               f"{c.owner.address}")


def resolve_protocol(c, timeout=10.0):
    """`proto auto`: ask the server, as fetchmail does (IMAP first, then POP3)."""
    if c.protocol != "auto" or c.refused:
        return
    tried = []
    for protocol in ("imap", "pop3"):
        account = unsaved_account(c, protocol)
        result = probe_account(account, timeout=timeout)
        # A refused login still proves the server speaks the protocol.
        if result.ok or result.error_kind == "AuthError":
            c.protocol = protocol
            c.note(f"protocol auto: the server answered {protocol.upper()}")
            return
        tried.append(f"{protocol.upper()}: {result.error}")
    c.refuse("protocol auto: no POP3 or IMAP server answered (" + "; ".join(tried) + ")")


def unsaved_account(c, protocol):
    port = c.port
    account = RemoteAccount(
        protocol=protocol, security=c.security, host=c.host, port=port,
        username=c.username, verify_tls=c.verify_tls, folders=c.folders,
    )
    if c.port is None:
        account.port = None
    account.set_password(c.password or "")
    return account


def attach_fetchids(candidates, fetchids):
    """Give each POP3 candidate the UIDLs fetchmail recorded for it.

    fetchmail records nothing for IMAP: see serverseen.
    """
    used = set()
    for c in candidates:
        for host in c.state_hosts:
            key = (c.username.lower(), host.lower())
            if key in fetchids:
                if c.protocol == "pop3":
                    c.seen = list(dict.fromkeys(fetchids[key]))
                    used.add(key)
                break
    return sorted(f"{u}@{h}" for u, h in set(fetchids) - used)


def attach_oldmail(candidates, files):
    """Give each candidate the messages getmail recorded in its oldmail files.

    `files` maps a file's base name to its text; returns the names no entry claimed.
    """
    used = set()
    for c in candidates:
        port = c.port or RemoteAccount.DEFAULT_PORTS.get((c.protocol, c.security), 0)
        seen = []
        for host in c.state_hosts:
            if c.protocol == "pop3":
                wanted = {statefiles.oldmail_name(host, port, c.username): None}
            else:
                wanted = {statefiles.oldmail_name(host, port, c.username, f): f
                          for f in c.folders or ["INBOX"]}
            for name, folder in wanted.items():
                if name in files:
                    seen.extend(statefiles.read_oldmail(files[name], folder))
                    used.add(name)
        c.seen = list(dict.fromkeys(seen))
    return sorted(set(files) - used)
