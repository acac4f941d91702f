"""Set-based writes: PostgreSQL COPY inside the current transaction, attributed in the audit trail."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """COPY ``rows`` into ``table``. Call inside ``transaction.atomic()`` and ``audit_context``:
    the first statement attaches the audit context to the transaction, so row triggers fired by
    COPY record who and why like any other write."""
    count = 0
    cols = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # pghistory sets its transaction-local context on this statement
        with cursor.cursor.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def next_ids(table: str, count: int, column: str = "id") -> list[int]:
    """Reserve ``count`` ids from the table's sequence (for rows written with COPY)."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [table, column, count])
        return [row[0] for row in cursor.fetchall()]
