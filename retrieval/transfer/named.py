"""The sections of records known by their name: OAuth2 providers and delivery targets.

Accounts and mailboxes name them (`"delivery_target": "Gmail"`, `"oauth":
{"provider": "Google", …}`), so a file that carries them recreates where mail
goes and how it signs in, in an empty database too.
"""

from dataclasses import dataclass, field

from delivery.models import DeliveryTarget
from popadmin.secrets import SecretError
from retrieval.models import OAuthProvider

from .schema import PROVIDER_FIELDS, RENAMED, TARGET_FIELDS, check_fields, model_errors


@dataclass(frozen=True)
class Section:
    model: type
    fields: dict
    secret: str  # the key of the one secret, written through set_secret
    set_secret: str
    get_secret: str


SECTIONS = {
    "oauth_providers": Section(
        OAuthProvider, PROVIDER_FIELDS, "client_secret", "set_client_secret",
        "get_client_secret",
    ),
    "delivery_targets": Section(
        DeliveryTarget, TARGET_FIELDS, "password", "set_password", "decrypted_password",
    ),
}


@dataclass
class RecordPlan:
    record: object
    created: bool
    before: dict
    secret: str | None  # from the file; None keeps the stored one
    oauth: dict | None = None
    where: str = ""
    section: Section = field(default=None, repr=False)


def snapshot(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def plan_records(name, items, errors):
    """{record name: RecordPlan} for a section's entries; problems go to `errors`."""
    section = SECTIONS[name]
    plans, seen = {}, {}
    for i, raw in enumerate(items):
        where = f"{name}[{i}]"
        values = check_fields(raw, section.fields, where, errors)
        if values is None:
            continue
        key = values.get("name")
        if "name" not in raw:
            errors.append(f"{where}.name: required")
        elif key in seen:
            errors.append(f"{where}.name: duplicate of {name}[{seen[key]}]")
            key = None
        if key is not None:
            seen[key] = i
        record = key and section.model.objects.filter(name=key).first()
        created = not record
        record = record or section.model()
        before = snapshot(record)
        for k, value in values.items():
            if k not in (section.secret, "oauth"):
                setattr(record, RENAMED.get(k, k), value)
        model_errors(record, where, errors, skip=set(raw) - set(values), exclude=[])
        if key is not None:
            plans[key] = RecordPlan(record, created, before, values.get(section.secret),
                                    values.get("oauth"), where, section)
    defaults = [p.where for p in plans.values() if getattr(p.record, "is_default", False)]
    if len(defaults) > 1:
        errors.append(f"{defaults[1]}.default: {defaults[0]} is the default already")
    return plans


def prepare_secret(plan):
    """Encrypt the file's secret into the record, unless it is the one stored."""
    if plan.secret is None:
        return
    if not plan.created:
        try:
            if getattr(plan.record, plan.section.get_secret)() == plan.secret:
                return  # Fernet tokens differ every time: keep a repeated import a no-op
        except SecretError:
            pass
    getattr(plan.record, plan.section.set_secret)(plan.secret)


def export_records(name, with_secrets, unreadable):
    """A section's entries as the file holds them."""
    section = SECTIONS[name]
    entries = []
    for i, record in enumerate(section.model.objects.order_by("name")):
        entry = {}
        for key in section.fields:
            if key == "oauth":
                continue  # exporter.py adds the grant, secrets only
            if key == section.secret:
                if with_secrets:
                    try:
                        entry[key] = getattr(record, section.get_secret)()
                    except SecretError as e:
                        unreadable.append(f"{name}[{i}] ({record}): {e}")
                continue
            entry[key] = getattr(record, RENAMED.get(key, key))
        entries.append(entry)
    return entries
