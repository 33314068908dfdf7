"""Import another retriever's accounts and seen-state, all or nothing.

Candidates become an import document for retrieval.transfer, whose planner
checks them and whose importer writes them; the seen-state rows go in the
same transaction, so no worker can see a new account before it knows which
of its messages were already taken. Importing the same files again changes
nothing: unchanged accounts are not written, known uids are not added.
"""

from dataclasses import dataclass, field

from django.db import transaction

from retrieval.models import GlobalSettings, RemoteAccount, SeenMessage
from retrieval.transfer import TransferError, changes, import_data
from retrieval.transfer.planner import ImportPlan

from . import placement

CONFIRM = ("these rewrites need a confirmation: check them in the preview (--dry-run), then "
           "confirm them (--confirm-rewrites, or the box under the Import page's preview)")


class MigrationError(Exception):
    """Nothing was imported; `errors` says why, each with its place in the files."""

    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class Row:
    source: str
    label: str
    action: str  # "create", "update", "unchanged" or "refused"
    owner: str = ""
    reason: str = ""
    notes: list = field(default_factory=list)
    seen_new: int = 0
    account_id: int | None = None
    changes: list = field(default_factory=list)  # changes.Change of an update, old -> new
    warnings: list = field(default_factory=list)  # rewrites a person must confirm
    disabled: str = ""  # "created disabled" or "disabled by this import", with why


@dataclass
class Report:
    rows: list
    settings: dict
    unused_state: list
    dry_run: bool

    def count(self, action):
        return sum(r.action == action for r in self.rows)

    def summary(self):
        seen = sum(r.seen_new for r in self.rows)
        head = "dry run, nothing written: " if self.dry_run else ""
        confirm = self.needs_confirmation()
        confirm = (f"; {confirm} rewrite(s) to confirm" if self.dry_run
                   else f"; {confirm} confirmed rewrite(s)") if confirm else ""
        return (f"{head}accounts: {self.count('create')} created, {self.count('update')} "
                f"updated, {self.count('unchanged')} unchanged, {self.count('refused')} "
                f"not importable; {seen} already-taken message(s) recorded{confirm}")

    def needs_confirmation(self):
        """How many entries rewrite an account in a way a person must confirm first."""
        return sum(bool(r.warnings) for r in self.rows)

    def to_confirm(self):
        """Each such rewrite as a line: what a confirmation confirms."""
        return [f"{r.source}: {r.label}: {w}" for r in self.rows for w in r.warnings]

    def lines(self):
        """The report as text lines, one per entry plus its notes."""
        out = [self.summary()]
        for r in self.rows:
            detail = f" -> {r.owner}" if r.owner else ""
            reason = f": {r.reason or r.disabled}" if r.reason or r.disabled else ""
            seen = f" ({r.seen_new} taken before)" if r.seen_new else ""
            out.append(f"{r.source}: {r.action} {r.label}{detail}{seen}{reason}")
            out.extend(f"    {c}" for c in r.changes)
            out.extend(f"    warning: {w}" for w in r.warnings)
            out.extend(f"    note: {n}" for n in r.notes)
        for key, values in self.settings.items():
            out.append(f"global settings: {key} gains {', '.join(values)}")
        out.extend(f"state file: {name}: matches no imported account" for name in
                   self.unused_state)
        return out


def migrate(candidates, unused_state=(), default_owner=None, dry_run=False, probe_timeout=10.0,
            confirmed=False):
    """Import the candidates; returns a Report, raises MigrationError with nothing written.

    An import that rewrites an account its user set up, or makes one connect
    another way (changes.py), writes nothing unless `confirmed` is True or
    holds each such rewrite as Report.to_confirm() words it (what the person
    saw in the preview).
    """
    accepted, rows, keys = [], [], {}
    for c in candidates:
        if not c.refused:
            placement.resolve_protocol(c, probe_timeout)
        if not c.refused:
            placement.place_owner(c, default_owner)
        if not c.refused:
            key = (c.owner.pk, c.host.lower(), c.username)
            if key in keys:
                c.refuse(f"same owner, server and user as {keys[key]}")
            keys.setdefault(key, c.source)
        if c.refused:
            rows.append(Row(c.source, c.label, "refused", reason=c.refused, notes=c.notes))
        else:
            accepted.append(c)
    settings_gain = _settings_gain(accepted)
    document = {"accounts": [_account_entry(c) for c in accepted]}
    if settings_gain:
        document["settings"] = settings_gain["new"]
    plan = ImportPlan(document)
    if plan.errors:
        raise MigrationError([_placed(e, accepted) for e in plan.errors])
    planned = {id(c): entry for c, entry in zip(accepted, plan.accounts, strict=True)}
    for c in accepted:
        entry = planned[id(c)]
        result = changes.of_entry(entry)
        known = set()
        if not entry.created:
            known = set(SeenMessage.objects.filter(account=entry.account, uid__in=c.seen)
                        .values_list("uid", flat=True))
        c.new_seen = [uid for uid in c.seen if uid not in known]
        rows.append(Row(c.source, c.label, result.action, c.owner.address, notes=c.notes,
                        seen_new=len(c.new_seen), account_id=entry.account.pk,
                        changes=result.changes, warnings=result.warnings,
                        disabled=_disabled(c, result)))
    rows.sort(key=lambda r: _source_order(r.source))
    report = Report(rows, settings_gain.get("added", {}), list(unused_state), dry_run)
    unconfirmed = [] if confirmed is True else [
        line for line in report.to_confirm() if line not in set(confirmed or ())]
    if not dry_run and unconfirmed:
        raise MigrationError([*unconfirmed, CONFIRM])
    if not dry_run:
        _write(document, accepted, rows)
    return report


def _write(document, accepted, rows):
    try:
        with transaction.atomic():
            import_data(document)
            for c in accepted:
                account = RemoteAccount.objects.get(
                    owner=c.owner, host__iexact=c.host, username=c.username
                )
                # Imported: stops a redelivery, never allows a deletion (identity.py).
                SeenMessage.objects.bulk_create(
                    [SeenMessage(account=account, uid=uid, origin=SeenMessage.Origin.IMPORTED)
                     for uid in c.new_seen],
                    ignore_conflicts=True, batch_size=500,
                )
                for row in rows:
                    if row.source == c.source:
                        row.account_id = account.pk
    except TransferError as e:
        raise MigrationError(e.errors)


def _disabled(c, result):
    if not result.disabled:
        return ""
    why = c.disabled_why or "disabled in the file"
    return f"{'created disabled' if result.created else 'disabled by this import'} ({why})"


def _account_entry(c):
    entry = {
        "owner": c.owner.address, "protocol": c.protocol, "security": c.security,
        "host": c.host, "port": c.port, "username": c.username, "password": c.password,
        "verify_tls": c.verify_tls, "keep": c.keep, "folders": list(c.folders), "mode": c.mode,
        "target_folder": c.target_folder, "poll_minutes": c.poll_minutes,
        "max_message_mb": c.max_message_mb, "enabled": c.enabled,
    }
    if c.keep_days:
        entry["keep_days"] = c.keep_days
    return entry


def _settings_gain(accepted):
    """Global settings the multidrop entries need that are not there yet."""
    gs = GlobalSettings.objects.filter(pk=1).first() or GlobalSettings(pk=1)
    domains = list(gs.accepted_domains or [])
    headers = list(gs.header_fields or [])
    added = {"accepted_domains": [], "header_fields": []}
    for c in accepted:
        for d in c.accepted_domains:
            if d not in domains and d not in added["accepted_domains"]:
                added["accepted_domains"].append(d)
        for h in c.header_fields:
            if h.lower() not in {x.lower() for x in headers + added["header_fields"]}:
                added["header_fields"].append(h)
    added = {k: v for k, v in added.items() if v}
    if not added:
        return {}
    new = {}
    if "accepted_domains" in added:
        new["accepted_domains"] = domains + added["accepted_domains"]
    if "header_fields" in added:
        new["header_fields"] = headers + added["header_fields"]
    return {"new": new, "added": added}


def _placed(error, accepted):
    """A planner error with "accounts[i]" replaced by the entry's place in the file."""
    if error.startswith("accounts["):
        index, _, rest = error[len("accounts["):].partition("]")
        if index.isdigit() and int(index) < len(accepted):
            return f"{accepted[int(index)].source}{rest}"
    return error


def _source_order(source):
    name, _, line = source.rpartition(":")
    return (name, int(line) if line.isdigit() else 0)
