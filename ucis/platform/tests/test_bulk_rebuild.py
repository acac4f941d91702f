"""indexes_built_after: indexes and constraints handed to the rebuild thread table by table come
back exactly as they were, and a bad row still fails the load with the constraint's own error."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from ucis.platform.bulk import copy_rows, indexes_built_after

TABLES = ["probe_parent", "probe_child"]


def _schema(cursor) -> None:
    cursor.execute("CREATE TABLE probe_parent (id bigint PRIMARY KEY, code text UNIQUE, note text)")
    cursor.execute("CREATE INDEX probe_parent_note ON probe_parent (note)")
    cursor.execute("CREATE TABLE probe_child (id bigint PRIMARY KEY, parent_id bigint REFERENCES probe_parent(id))")


def _catalog(cursor) -> tuple[list, list]:
    cursor.execute("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = ANY(%s::regclass[]) ORDER BY 1, 2", [TABLES])
    constraints = cursor.fetchall()
    cursor.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = ANY(%s::regclass[]) ORDER BY 1",
                   [TABLES])
    return constraints, cursor.fetchall()


def test_rebuilt_table_by_table(db):
    with transaction.atomic(), connection.cursor() as cursor:
        _schema(cursor)
        before = _catalog(cursor)
        with indexes_built_after(TABLES) as rebuild:
            copy_rows("probe_parent", ["id", "code", "note"], [(i, f"c{i}", "x") for i in range(1000)], binary=True)
            rebuild.ready("probe_parent")
            copy_rows("probe_child", ["id", "parent_id"], [(i, i % 1000) for i in range(3000)])
        assert _catalog(cursor) == before
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute("INSERT INTO probe_child VALUES (5000, 99999)")


def test_a_bad_row_fails_the_load(db):
    with connection.cursor() as cursor:
        _schema(cursor)
    with pytest.raises(IntegrityError, match="probe_parent_code_key"), transaction.atomic():
        with indexes_built_after(TABLES) as rebuild:
            copy_rows("probe_parent", ["id", "code", "note"], [(i, "same", "x") for i in range(10)])
            rebuild.ready("probe_parent")
            copy_rows("probe_child", ["id", "parent_id"], [(i, 1) for i in range(10)])
