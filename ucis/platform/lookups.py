"""Key lists for set-based queries. ``field__any=[...]`` is membership as ``field = ANY(%s)``
with the whole list as one array parameter: ``__in`` sends one placeholder per value, which psycopg
splits and quotes in Python and PostgreSQL parses one by one — for the thousands of keys of a
set-based batch that costs more than the query itself. ``pg_array`` writes such an array as one
literal string (cast it in the SQL: ``%s::bigint[]``), which psycopg passes on as it is instead of
adapting it element by element (a few µs each)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        field = getattr(self.lhs, "output_field", None)
        prep = getattr(field, "get_prep_value", None)
        return [prep(v) if prep else v for v in self.rhs]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        db_type = self.lhs.output_field.cast_db_type(connection)
        return f"{lhs} = ANY(%s::{db_type}[])", [*lhs_params, pg_array(self.rhs)]


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pg_array(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal of ``values`` (numbers, dates, text, None), e.g. ``{1,2,NULL}``."""
    items = values if isinstance(values, list) else list(values)
    if all(type(v) is int for v in items):  # keys, the common case: no quoting needed
        return "{" + ",".join(map(str, items)) + "}"
    return "{" + ",".join(map(_element, items)) + "}"


def register() -> None:
    Field.register_lookup(AnyOf)
    # Relations keep their own lookups (``meter_id__any`` / ``meter__any``).
    ForeignObject.register_lookup(AnyOf)
