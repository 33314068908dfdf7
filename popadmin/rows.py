"""Many new rows of one model in one executemany.

bulk_create prepares every field of every row through the ORM's insert
compiler; for the rows a retrieval writes per message (Delivery, SeenMessage)
that cost more than the database's own work (bench/pop3_vs_peers.py: about
0.3 ms a row). The rows are plain ones (`new`, or unsaved model instances),
built with their defaults already applied, so each value needs at most the
backend's adaptation of a date, done once per column type. Models with fields
this does not know (auto_now, file, JSON, custom types) are refused rather
than written wrong.
"""

from functools import cache
from types import SimpleNamespace

from django.db import connections, models, router
from django.db.models.constants import OnConflict
from django.db.models.expressions import DatabaseDefault
from django.db.models.fields import AutoFieldMixin

# Field types whose value goes to the driver as the instance holds it.
_AS_IS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.ForeignKey,
)


class Row(SimpleNamespace):
    """One row to insert: every column's value by field attname (FKs as ids)."""


@cache
def _fields(model) -> tuple:
    return tuple(f for f in model._meta.concrete_fields if not isinstance(f, AutoFieldMixin))


@cache
def _attnames(model) -> frozenset:
    return frozenset(f.attname for f in _fields(model))


def new(model, **values) -> Row:
    """A row of `model` with `values` (attnames: "mailbox_id", not "mailbox") and
    each other field's default, as a model instance would have it, without the
    cost of building one (about a tenth of a millisecond, twice per message)."""
    for field in _fields(model):
        if field.attname not in values:
            values[field.attname] = field.get_default()
    unknown = values.keys() - _attnames(model)
    if unknown:
        raise TypeError(f"{model.__name__} has no field {sorted(unknown)}")
    return Row(**values)


def insert(model, objs, *, ignore_conflicts: bool = False) -> None:
    """INSERT `objs` (rows of `model`: from `new`, or unsaved instances); with
    `ignore_conflicts`, rows that break a unique constraint are left out, as
    bulk_create does."""
    if not objs:
        return
    alias = router.db_for_write(model)
    connection = connections[alias]
    ops = connection.ops
    fields = _fields(model)
    adapt = [_adapter(f, connection) for f in fields]
    conflict = OnConflict.IGNORE if ignore_conflicts else None
    columns = ", ".join(ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = (f"{ops.insert_statement(on_conflict=conflict)} {ops.quote_name(model._meta.db_table)} "
           f"({columns}) VALUES ({marks})")
    suffix = ops.on_conflict_suffix_sql(fields, conflict, None, None)
    if suffix:
        sql = f"{sql} {suffix}"
    params = [
        [fix(getattr(obj, f.attname)) for f, fix in zip(fields, adapt, strict=True)] for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _adapter(field, connection):
    default = field.db_default
    fallback = getattr(default, "value", default)

    def db_default(value):
        return fallback if isinstance(value, DatabaseDefault) else value

    if isinstance(field, models.DateTimeField):
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            raise TypeError(f"{field}: auto_now fields are set by save(), not here")
        adapt = connection.ops.adapt_datetimefield_value
        return lambda value: adapt(db_default(value))
    if isinstance(field, models.UUIDField):
        adapt = field.get_db_prep_value
        return lambda value: adapt(db_default(value), connection)
    if isinstance(field, _AS_IS):
        return db_default
    raise TypeError(f"{field}: {type(field).__name__} is not written by popadmin.rows")
