"""Set-based writes: PostgreSQL COPY inside the current transaction, attributed in the audit trail."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from django.db import connection
from psycopg.copy import QueuedLibpqWriter


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """COPY ``rows`` into ``table``. Call inside ``transaction.atomic()`` and ``audit_context``:
    the first statement attaches the audit context to the transaction, so row triggers fired by
    COPY record who and why like any other write."""
    count = 0
    cols = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # pghistory sets its transaction-local context on this statement
        # The queued writer sends buffers from its own thread, so PostgreSQL parses and indexes
        # while Python formats the next rows (the two run on different cores).
        raw = cursor.cursor
        with raw.copy(f'COPY "{table}" ({cols}) FROM STDIN', writer=QueuedLibpqWriter(raw)) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def next_ids(table: str, count: int, column: str = "id") -> list[int]:
    """Reserve ``count`` ids from the table's sequence (for rows written with COPY)."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        return sequence_block(cursor.fetchone()[0], count)


def sequence_block(sequence: str, count: int) -> list[int]:
    """``count`` consecutive values of ``sequence`` in one step instead of ``count`` nextval()
    calls (2.6 µs each: 30 s of a million-customer load). A writer calling nextval() between our
    nextval and setval would receive a value inside our block; the unique constraint on the
    column then refuses one of the two transactions, so the race can fail a load, never corrupt it."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(%s, nextval(%s) + %s - 1)", [sequence, sequence, count])
        last = cursor.fetchone()[0]
    return list(range(last - count + 1, last + 1))


@contextmanager
def indexes_built_after(tables: Sequence[str], *, maintenance_work_mem: str = "512MB") -> Iterator[None]:
    """Load into empty tables the way PostgreSQL loads fastest: drop their secondary indexes and
    their unique, exclusion and foreign-key constraints (and pause their own triggers), then rebuild
    them once at the end — one sorted build per index and one anti-join per foreign key instead of a
    probe per row. The rebuild checks every row, so a bad row still aborts the whole load. Call
    inside ``transaction.atomic()``: the DDL is part of the transaction and rolls back with it, and
    it locks the tables, so this is for initial loads, not for daytime imports."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)", [maintenance_work_mem])
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
              FROM pg_constraint c
             WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('f', 'u', 'x')
               AND NOT EXISTS (SELECT 1 FROM pg_constraint r
                                WHERE r.contype = 'f' AND r.conindid = c.conindid AND c.contype <> 'f'
                                  AND NOT r.conrelid = ANY(%s::regclass[]))
             ORDER BY c.contype = 'f' DESC
            """, [list(tables), list(tables)])
        constraints = cursor.fetchall()
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
              FROM pg_index i
             WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """, [list(tables)])
        indexes = cursor.fetchall()
        for table, name, _definition, _kind in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
        for table in tables:
            cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
    yield
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
        for _name, definition in indexes:
            cursor.execute(definition)
        # Unique and exclusion constraints before the foreign keys that may rely on them.
        for table, name, definition, _kind in reversed(constraints):
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def tables_empty(tables: Sequence[str]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(f'(SELECT 1 FROM "{t}" LIMIT 1)' for t in tables))
        return cursor.fetchone() is None


# --------------------------------------------------------------------------------------------------
# Column-wise COPY with numpy (tens of millions of rows)
# --------------------------------------------------------------------------------------------------
# ``copy_rows`` formats a row in Python (~2 µs): 26 s for 13 million meter reads. The helpers below
# move whole numpy columns instead. Going in, every field of a chunk is formatted at a fixed width
# (integers zero-padded — PostgreSQL reads "007" as 7) into one byte matrix, so a chunk of rows is
# a handful of vectorised operations. Coming out, ``COPY … TO STDOUT (FORMAT binary)`` of
# fixed-width, non-null columns is a record array numpy reads without parsing.

_LUT4 = np.array([list(f"{i:04d}".encode()) for i in range(10_000)], dtype=np.uint8)
_PG_EPOCH = np.datetime64("2000-01-01", "D")
_CHUNK_ROWS = 262_144


@dataclass(frozen=True)
class Column:
    """One column for ``copy_columns``: ``kind`` is ``int`` (int64), ``milli`` (int64 thousandths
    written as a numeric with 3 decimals), ``date`` (datetime64[D]), ``text`` (one constant), or of
    variable width: ``choice`` ((indices, strings): each row one of a few strings, ``None`` = NULL),
    ``decimal`` ((ints, scale, keep[, null mask]): ``ints / 10**scale`` without padding, trailing
    fractional zeros dropped beyond ``keep`` decimals) and ``concat`` (a list of columns written
    one after the other in one field — e.g. a JSON document around numbers)."""

    name: str
    kind: str
    values: Any


def _digits(out: npt.NDArray[np.uint8], start: int, width: int, magnitude: npt.NDArray[np.int64]) -> None:
    v = magnitude.copy()
    pos = start + width
    while pos > start:
        take = min(4, pos - start)
        out[:, pos - take:pos] = _LUT4[v % 10_000][:, 4 - take:]
        v //= 10_000
        pos -= take


def _width(values: npt.NDArray[np.int64]) -> int:
    top = int(np.abs(values).max()) if values.size else 0
    return max(1, len(str(top)))


def _copy_escape(text: str) -> bytes:
    """Text as COPY's text format wants it (backslash, tab, newline and carriage return escaped)."""
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            .encode())


def _digit_count(magnitude: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Decimal digits of each non-negative value (0 has one)."""
    return np.searchsorted(_POWERS, magnitude, side="right").astype(np.int64).clip(min=1)


_POWERS = np.array([10 ** k for k in range(19)], dtype=np.int64)


def _plan(col: Column, n: int) -> tuple[Column, int, bool, Any]:
    """(column, width, signed or variable, data) of one column over the whole load."""
    if col.kind == "text":
        raw = str(col.values).encode()
        if any(b in raw for b in b"\t\n\r\\"):
            raise ValueError(f"{col.name}: constant text may not hold tabs, newlines or backslashes")
        return (col, len(raw), False, np.frombuffer(raw, dtype=np.uint8))
    if col.kind == "date":
        days = np.asarray(col.values, dtype="datetime64[D]").astype(np.int64)
        if len(days) != n:
            raise ValueError(f"{col.name}: {len(days)} values for {n} rows")
        low = int(days.min()) if n else 0
        high = int(days.max()) if n else 0
        table = np.array([list(str(np.datetime64(d, "D")).encode()) for d in range(low, high + 1)],
                         dtype=np.uint8)
        if table.size and table.shape[1] != 10:
            raise ValueError(f"{col.name}: dates outside years 1000-9999")
        return (col, 10, False, (days, low, table))
    if col.kind in ("int", "milli"):
        values = np.asarray(col.values, dtype=np.int64)
        if len(values) != n:
            raise ValueError(f"{col.name}: {len(values)} values for {n} rows")
        signed = bool(n and values.min() < 0)
        whole = _width(values // 1000 if col.kind == "milli" else values) if n else 1
        width = whole + (4 if col.kind == "milli" else 0) + signed
        return (col, width, signed, values)
    if col.kind == "choice":
        indices, choices = col.values
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) != n:
            raise ValueError(f"{col.name}: {len(indices)} values for {n} rows")
        encoded = [b"\\N" if c is None else _copy_escape(str(c)) for c in choices]
        if any(not e for e in encoded):
            raise ValueError(f"{col.name}: an empty choice cannot be written (its bytes are the padding)")
        width = max((len(e) for e in encoded), default=1)
        table = np.zeros((max(1, len(encoded)), width), dtype=np.uint8)
        for k, e in enumerate(encoded):
            table[k, :len(e)] = np.frombuffer(e, dtype=np.uint8)
        return (col, width, True, (indices, table))
    if col.kind == "decimal":
        values, scale, keep, nulls = (tuple(col.values) + (None,))[:4]
        values = np.asarray(values, dtype=np.int64)
        if len(values) != n:
            raise ValueError(f"{col.name}: {len(values)} values for {n} rows")
        whole = _width(np.abs(values) // 10 ** scale) if n else 1
        width = max(2, 1 + whole + (1 + scale if scale else 0))
        mask = None if nulls is None else np.asarray(nulls, dtype=np.bool_)
        return (col, width, True, (values, int(scale), int(keep), mask, whole))
    if col.kind == "concat":
        parts = [_plan(part, n) for part in col.values]
        return (col, sum(p[1] for p in parts), True, parts)
    raise ValueError(f"{col.name}: unknown column kind {col.kind}")


def _layout(columns: Sequence[Column], n: int) -> list[tuple[Column, int, bool, Any]]:
    """Width of each field over the whole load, so every chunk has the same record size (variable
    fields — ``choice``, ``decimal``, ``concat`` — are padded with NUL bytes, removed at the end)."""
    return [_plan(col, n) for col in columns]


def _write(out: npt.NDArray[np.uint8], pos: int, item: tuple[Column, int, bool, Any], lo: int, hi: int) -> None:
    col, width, signed, data = item
    if col.kind == "text":
        out[:, pos:pos + width] = data
    elif col.kind == "date":
        days, low, table = data
        out[:, pos:pos + 10] = table[days[lo:hi] - low]
    elif col.kind == "choice":
        indices, table = data
        out[:, pos:pos + width] = table[indices[lo:hi]]
    elif col.kind == "decimal":
        _write_decimal(out, pos, width, data, lo, hi)
    elif col.kind == "concat":
        for part in data:
            _write(out, pos, part, lo, hi)
            pos += part[1]
    else:
        values = data[lo:hi]
        start = pos
        if signed:
            out[:, pos] = np.where(values < 0, ord("-"), ord("0"))
            start += 1
        magnitude = np.abs(values)
        if col.kind == "milli":
            whole = width - 4 - signed
            _digits(out, start, whole, magnitude // 1000)
            out[:, start + whole] = ord(".")
            _digits(out, start + whole + 1, 3, magnitude % 1000)
        else:
            _digits(out, start, width - signed, magnitude)


def _write_decimal(out: npt.NDArray[np.uint8], pos: int, width: int, data: Any, lo: int, hi: int) -> None:
    """``values / 10**scale`` as plain decimal text: a sign only when negative, no leading zeros,
    trailing fractional zeros dropped beyond ``keep`` decimals (and the point with them); NUL-padded."""
    values, scale, keep, nulls, whole = data
    v = values[lo:hi]
    magnitude = np.abs(v)
    field = out[:, pos:pos + width]
    field[:] = 0
    integer = magnitude // 10 ** scale
    _digits(field, 1, whole, integer)
    pad = np.arange(whole)[None, :] < (whole - _digit_count(integer))[:, None]
    field[:, 1:1 + whole][pad] = 0
    field[:, 0] = np.where(v < 0, ord("-"), 0)
    if scale:
        fraction = magnitude % 10 ** scale
        field[:, 1 + whole] = ord(".")
        _digits(field, 2 + whole, scale, fraction)
        # trailing zeros: how many of the last digits are 0
        zeros = np.zeros(len(v), dtype=np.int64)
        rest = fraction.copy()
        alive = np.ones(len(v), dtype=np.bool_)
        for _k in range(scale):
            alive &= rest % 10 == 0
            zeros += alive
            rest //= 10
        dropped = np.minimum(zeros, scale - keep)
        cut = np.arange(scale)[None, :] >= (scale - dropped)[:, None]
        field[:, 2 + whole:2 + whole + scale][cut] = 0
        field[:, 1 + whole] = np.where(dropped == scale, 0, ord("."))
    if nulls is not None:
        null_rows = nulls[lo:hi]
        field[null_rows] = 0
        field[null_rows, 0] = ord("\\")
        field[null_rows, 1] = ord("N")


def _format(plan: list[tuple[Column, int, bool, Any]], lo: int, hi: int) -> bytes:
    m = hi - lo
    record = sum(width for _c, width, _s, _v in plan) + len(plan)
    out = np.empty((m, record), dtype=np.uint8)
    pos = 0
    for item in plan:
        _write(out, pos, item, lo, hi)
        pos += item[1]
        out[:, pos] = ord("\t")
        pos += 1
    out[:, record - 1] = ord("\n")
    if any(c.kind in ("choice", "decimal", "concat") for c, _w, _s, _d in plan):
        flat = out.reshape(-1)
        return flat[flat != 0].tobytes()
    return out.tobytes()


def format_columns(columns: Sequence[Column], count: int, rows: int = 32_768) -> Iterator[bytes]:
    """The rows of ``columns`` in COPY's text format, ``rows`` at a time (for one COPY that writes
    rows of several shapes; small chunks let PostgreSQL parse one while numpy formats the next)."""
    if count <= 0:
        return
    plan = _layout(columns, count)
    for lo in range(0, count, rows):
        yield _format(plan, lo, min(count, lo + rows))


def copy_chunks(table: str, names: Sequence[str], chunks: Iterable[bytes]) -> None:
    """COPY already formatted text chunks (``format_columns``) into ``table``."""
    cols = ", ".join(f'"{c}"' for c in names)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # attach the audit context, as copy_rows does
        raw = cursor.cursor
        with raw.copy(f'COPY "{table}" ({cols}) FROM STDIN', writer=QueuedLibpqWriter(raw)) as copy:
            for chunk in chunks:
                copy.write(chunk)


def copy_columns(table: str, columns: Sequence[Column], count: int) -> int:
    """COPY ``count`` rows given column by column (numpy arrays or one constant per column)
    into ``table``. Same transaction and audit rules as ``copy_rows``."""
    if count <= 0:
        return 0
    plan = _layout(columns, count)
    cols = ", ".join(f'"{c.name}"' for c in columns)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # attach the audit context, as copy_rows does
        raw = cursor.cursor
        with raw.copy(f'COPY "{table}" ({cols}) FROM STDIN', writer=QueuedLibpqWriter(raw)) as copy:
            for lo in range(0, count, _CHUNK_ROWS):
                copy.write(_format(plan, lo, min(count, lo + _CHUNK_ROWS)))
    return count


_BINARY_TYPES = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "date": ">i4", "bool": "?", "float8": ">f8"}


def copy_out_columns(query: str, params: Sequence[Any], fields: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Run ``query`` (its columns are ``fields``: (name, int2|int4|int8|date|bool|float8), never
    NULL) and return one numpy array per field: ints as int64, dates as datetime64[D]."""
    dtype = np.dtype([("count", ">i2")] + [item for name, kind in fields
                                            for item in ((f"{name}__len", ">i4"), (name, _BINARY_TYPES[kind]))])
    parts: dict[str, list[Any]] = {name: [] for name, _kind in fields}
    pending = bytearray()
    header = True

    def take(buffer: bytearray, final: bool) -> bytearray:
        rows = len(buffer) // dtype.itemsize
        if final and len(buffer) - rows * dtype.itemsize != 2:
            raise ValueError("COPY output is not fixed-width: a field is NULL or variable-sized")
        if rows:
            block = np.frombuffer(bytes(buffer[:rows * dtype.itemsize]), dtype=dtype)
            if int(block["count"].min()) != len(fields) or int(block["count"].max()) != len(fields):
                raise ValueError("COPY output row has an unexpected number of fields")
            for name, kind in fields:
                if int(block[f"{name}__len"].min()) < 0:
                    raise ValueError(f"{name} is NULL in some rows")
                column = block[name]
                if kind == "date":
                    parts[name].append(_PG_EPOCH + column.astype(np.int64))
                elif kind == "bool":
                    parts[name].append(column.astype(np.bool_))
                elif kind == "float8":
                    parts[name].append(column.astype(np.float64))
                else:
                    parts[name].append(column.astype(np.int64))
        return buffer[rows * dtype.itemsize:]

    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)", params or None) as copy:
            for data in copy:
                pending += data
                if header and len(pending) >= 19:
                    extension = int.from_bytes(pending[15:19], "big")
                    del pending[:19 + extension]
                    header = False
                if not header and len(pending) >= 8 << 20:
                    pending = take(pending, final=False)
    if header:
        raise ValueError("COPY output has no header")
    take(pending, final=True)
    return {name: (np.concatenate(chunks) if chunks else
                   np.array([], dtype="datetime64[D]" if kind == "date" else np.int64))
            for (name, kind), chunks in ((f, parts[f[0]]) for f in fields)}


def id_block(table: str, count: int, column: str = "id") -> int:
    """Reserve ``count`` consecutive ids of the table's sequence and return the first (what
    ``next_ids`` does without a Python list of millions of ints)."""
    if count <= 0:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        sequence = cursor.fetchone()[0]
        cursor.execute("SELECT setval(%s, nextval(%s) + %s - 1)", [sequence, sequence, count])
        return int(cursor.fetchone()[0]) - count + 1


_ARRAY_TYPES = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "date": ">i4", "bool": "?", "float8": ">f8"}


def fetch_columns(source: str, params: Sequence[Any], fields: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """Columns of ``SELECT … {source}`` as numpy arrays, each fetched as ONE binary array
    (``array_send(array_agg(expression))``, a bytea) instead of row by row: COPY sends a protocol
    message per row, and reading those costs ~3 µs each in Python — more than PostgreSQL spends
    producing the row. ``fields`` are (name, SQL expression, int2|int4|int8|date|bool|float8);
    values must not be NULL. Keep ``source`` to a few million rows (a bytea holds at most 1 GB)."""
    select = ", ".join(f"array_send(array_agg({expression}))" for _name, expression, _kind in fields)
    connection.ensure_connection()
    # Django's cursors bind on the client, which has no binary results: a plain psycopg cursor.
    with psycopg.Cursor(connection.connection) as raw:
        raw.execute(f"SELECT {select} {source}", params or None, binary=True)
        row = raw.fetchone()
    out: dict[str, Any] = {}
    for (name, _expression, kind), data in zip(fields, row, strict=True):
        empty = np.array([], dtype="datetime64[D]" if kind == "date" else np.int64)
        if data is None:  # array_agg over no rows
            out[name] = empty
            continue
        data = bytes(data)
        ndim, has_nulls = int.from_bytes(data[0:4], "big"), int.from_bytes(data[4:8], "big")
        if has_nulls:
            raise ValueError(f"{name} is NULL in some rows")
        if ndim != 1:
            out[name] = empty
            continue
        count = int.from_bytes(data[12:16], "big")
        block = np.frombuffer(data, dtype=np.dtype([("length", ">i4"), ("value", _ARRAY_TYPES[kind])]),
                              offset=20, count=count)
        values = block["value"]
        if kind == "date":
            out[name] = _PG_EPOCH + values.astype(np.int64)
        elif kind == "bool":
            out[name] = values.astype(np.bool_)
        elif kind == "float8":
            out[name] = values.astype(np.float64)
        else:
            out[name] = values.astype(np.int64)
    return out


_ROWS_HEADER = 28  # a 2-D array_send: ndim, has-nulls flag, element type, then (size, lower bound) twice


def fetch_rows(source: str, params: Sequence[Any], expressions: Sequence[str],
               into: Callable[[int], npt.NDArray[np.int64]] | None = None) -> npt.NDArray[np.int64]:
    """The rows of ``SELECT … {source}`` as one (rows, len(expressions)) int64 matrix, fetched as ONE
    binary 2-D array (``array_send(array_agg(ARRAY[e1, e2, …]))``): one aggregate transition per
    row instead of one per column and row, which is most of what ``fetch_columns`` costs
    PostgreSQL for many columns. Expressions must be integers (dates as day numbers, e.g.
    ``d - DATE '2000-01-01'``) and never NULL. ``into(rows)``, when given, returns the (rows, k)
    array to decode into (e.g. a slice of a larger one); else a new one is returned."""
    width = len(expressions)
    select = ", ".join(f"({e})::int8" for e in expressions)
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as raw:
        raw.execute(f"SELECT array_send(array_agg(ARRAY[{select}])) {source}", params or None, binary=True)
        data = raw.fetchone()[0]
    if data is None:  # no rows
        out = into(0) if into is not None else np.empty((0, width), np.int64)
        return out
    header = np.frombuffer(data, dtype=">i4", count=7)
    ndim, has_nulls, rows = int(header[0]), int(header[1]), int(header[3])
    if has_nulls:
        raise ValueError("a row has a NULL value")
    if ndim != 2 or int(header[5]) != width:
        raise ValueError(f"unexpected array shape: {ndim} dimensions")
    cells = np.frombuffer(data, dtype=np.dtype([("length", ">i4"), ("value", ">i8")]), offset=_ROWS_HEADER,
                          count=rows * width)
    out = into(rows) if into is not None else np.empty((rows, width), np.int64)
    np.copyto(out, cells["value"].reshape(rows, width), casting="unsafe")
    return out
