"""Meter reads by the million: loading a reading history set-based, and validating every stored
read again straight from the database.

* ``reads_bulk_load`` writes routes, stops, cycles and a history of reads (a demo city, or a legacy
  system's reading history) in one transaction. The reads arrive as readers wrote them (reading,
  date, stated base); previous reading, usage, flags and status are computed here with the
  production rules (``validation.validate_reads``), history baselines included — vectorised over
  all reads, with the scalar ``validate_read`` only for the few flagged reads whose findings are
  stored. Flagged reads of each route's newest cycle wait in the review queue; older flagged reads
  are taken as reviewed.
* ``reads_revalidate`` loads every live read into numpy (one binary int8 row array per ~450,000
  reads, two connections at once), rebuilds the bases and baselines and runs the rules again in
  cache-sized runs of whole service points, e.g. to see what new thresholds would flag.

Baselines follow ``reads.meter_reads_record``: the history of a read is the live actual reads of
its service point in the ``reads.HISTORY_DAYS`` before it.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pgtrigger
from django.db import connection, transaction
from django.utils import timezone

from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.metering import validation
from ucis.metering.reads import HISTORY_DAYS, _findings_json
from ucis.platform import bulk
from ucis.platform.audit import audit_context

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
DayArray = npt.NDArray[np.datetime64]

COMMODITIES = ("water", "electricity", "gas")
METER_TYPES = ("mechanical", "smart", "ic_prepaid")
CUSTOMER_TYPES = ("resident", "non_resident", "special", "industrial", "public")
READ_TABLES = ("metering_route", "metering_routestop", "metering_readcycle", "metering_meterread",
               "metering_readreview")


@dataclass(frozen=True)
class InstalledMeters:
    """Every meter fitted now, one row each, in walking order (building, room) within a node and
    commodity; ``commodity``, ``meter_type`` and ``customer_type`` index the name tuples."""

    meter_id: IntArray
    service_point_id: IntArray
    node_id: IntArray
    company_id: IntArray
    node_code: list[str]
    commodity: IntArray
    meter_type: IntArray
    customer_type: IntArray
    dial_digits: IntArray
    install_reading: IntArray  # thousandths
    installed: DayArray
    commodities: tuple[str, ...] = COMMODITIES
    meter_types: tuple[str, ...] = METER_TYPES
    customer_types: tuple[str, ...] = CUSTOMER_TYPES


def installed_meters() -> InstalledMeters:
    """One COPY of the registry join. Raw SQL on purpose: the customer selectors return a dict per
    row, and a city has millions of meters."""
    columns = bulk.copy_out_columns(
        """SELECT m.id, i.service_point_id, sp.node_id, sp.company_id,
                  array_position(%s::text[], m.commodity::text) - 1,
                  array_position(%s::text[], m.meter_type::text) - 1,
                  COALESCE(array_position(%s::text[], c.customer_type::text) - 1, 0),
                  m.dial_digits, (i.install_reading * 1000)::int8, i.installed_date
             FROM customers_meterinstallation i
             JOIN customers_meter m ON m.id = i.meter_id
             JOIN customers_servicepoint sp ON sp.id = i.service_point_id
             JOIN customers_premise p ON p.id = sp.premise_id
             LEFT JOIN (SELECT DISTINCT ON (service_point_id) service_point_id, account_id
                          FROM customers_serviceagreement WHERE active_to IS NULL
                         ORDER BY service_point_id, active_from DESC) a ON a.service_point_id = sp.id
             LEFT JOIN customers_account ac ON ac.id = a.account_id
             LEFT JOIN customers_customer c ON c.id = ac.customer_id
            WHERE i.removed_date IS NULL
            ORDER BY sp.node_id, m.commodity, COALESCE(p.building_id, 0), p.room COLLATE "C", m.id""",
        [list(COMMODITIES), list(METER_TYPES), list(CUSTOMER_TYPES)],
        [("meter_id", "int8"), ("service_point_id", "int8"), ("node_id", "int8"), ("company_id", "int8"),
         ("commodity", "int4"), ("meter_type", "int4"), ("customer_type", "int4"), ("dial_digits", "int2"),
         ("install_reading", "int8"), ("installed", "date")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, code FROM org_orgnode")
        codes = dict(cursor.fetchall())
    return InstalledMeters(node_code=[codes[n] for n in columns["node_id"].tolist()], **columns)


@dataclass(frozen=True)
class RouteRow:
    code: str
    name: str
    node_code: str
    commodity: str
    reader: str | None  # username
    cycle_months: int
    cycle_parity: int
    read_day: int


@dataclass
class ReadHistory:
    """What ``reads_bulk_load`` writes. Per meter row of ``meters``: its route and walking order.
    Cycles are indexed by position; reads are sorted by meter row, then date."""

    meters: InstalledMeters
    routes: Sequence[RouteRow]
    stop_route: IntArray
    stop_sequence: IntArray
    cycle_route: IntArray
    cycle_period: DayArray
    cycle_scheduled: DayArray
    cycle_from: DayArray
    cycle_to: DayArray
    cycle_open: BoolArray
    read_row: IntArray
    read_cycle: IntArray
    read_date: DayArray
    reading: IntArray
    stated_previous: IntArray
    has_stated_previous: BoolArray
    read_source: IntArray
    sources: tuple[str, ...] = ("hand", "handheld", "remote")


# --------------------------------------------------------------------------------------------------
# Bases and baselines, vectorised
# --------------------------------------------------------------------------------------------------


def _exclusive_cumsum(values: IntArray) -> IntArray:
    out = np.zeros(len(values) + 1, np.int64)
    np.cumsum(values, out=out[1:])
    return out


def history_baselines(*, group: IntArray, read_on: DayArray, period_from: DayArray, usage: IntArray,
                      valid: BoolArray, rules: validation.ReadRules) -> dict[str, IntArray]:
    """``validation.usage_baselines`` for every read at once. Reads are sorted by ``group`` (the
    service point) and date; the history of read ``i`` is the ``valid`` reads of its group before it
    within ``HISTORY_DAYS``, each a period ``[period_from, read_on)`` with its ``usage``.

    Uses cumulative sums over the valid reads: the last ``recent_periods`` of them are a difference
    of two sums, and the same month last year is a binary search on (group, month)."""
    n = len(group)
    # Views, not copies: at ten million reads every pass over the data counts.
    read_on = np.asarray(read_on, dtype="datetime64[D]")
    days = (read_on - np.asarray(period_from, dtype="datetime64[D]")).view(np.int64)
    valid = valid & (days > 0)
    day = read_on.view(np.int64)
    span = np.int64(1 << 24)  # more days than any calendar holds, so (group, day) keys never collide
    key = group * span + day
    if n > 1 and not bool(np.all(np.diff(key) >= 0)):
        raise DomainError("reads", _("reads must be sorted by service point and date"))
    # Valid reads before i: positions in the valid-only sequence.
    vcount = _exclusive_cumsum(valid.astype(np.int64))
    vusage = _exclusive_cumsum(np.where(valid, usage, 0))
    vdays = _exclusive_cumsum(np.where(valid, days, 0))
    # First read of the history window: same group, read on or after read_on - HISTORY_DAYS.
    lo = np.searchsorted(key, key - HISTORY_DAYS, side="left")
    # meter_reads_record takes the reads dated before this one (a read of the same day is not
    # history): the history ends before the first read of i's (group, day).
    new_day = np.ones(n, np.bool_)
    new_day[1:] = key[1:] != key[:-1]
    hi = np.maximum.accumulate(np.where(new_day, np.arange(n), 0))
    count = vcount[hi] - vcount[lo]
    # The recent valid periods: the last ``recent_periods`` valid reads before hi, not before lo.
    # Sentinel n at the end: "no valid read from here on" keeps the lookups in bounds.
    valid_positions = np.append(np.flatnonzero(valid), n)
    start_rank = np.maximum(vcount[hi] - rules.recent_periods, vcount[lo])
    start = np.where(start_rank < vcount[hi], valid_positions[start_rank], hi)
    recent_usage = vusage[hi] - vusage[start]
    recent_days = vdays[hi] - vdays[start]
    # Same month last year: the latest valid read of the group ending in that month.
    months = read_on.astype("datetime64[M]").view(np.int64)
    vkey = np.append((group * span + months)[valid_positions[:-1]], np.iinfo(np.int64).max)
    target = group * span + months - 12
    found = np.maximum(np.searchsorted(vkey, target, side="right") - 1, 0)
    at = np.minimum(valid_positions[found], max(n - 1, 0))
    last_year = (vkey[found] == target) & (valid_positions[found] >= lo) & (valid_positions[found] < hi)
    padded_usage, padded_days = np.append(usage, 0), np.append(days, 0)
    return {
        "last_year_usage": np.where(last_year, padded_usage[at], 0),
        "last_year_days": np.where(last_year, padded_days[at], 0),
        "recent_usage": recent_usage, "recent_days": recent_days, "history_count": count,
    }


# --------------------------------------------------------------------------------------------------
# Loading a reading history
# --------------------------------------------------------------------------------------------------


def _milli_decimal(value: int) -> Decimal:
    return Decimal(int(value)).scaleb(-3)


def _day(value: Any) -> date:
    return date.fromisoformat(str(np.datetime64(value, "D")))


@dataclass(frozen=True)
class _Validated:
    base: IntArray
    base_on: DayArray
    first: BoolArray
    usage: IntArray
    flags: IntArray
    cycle_from: DayArray
    cycle_to: DayArray


def _validate_history(h: ReadHistory, *, today: date, rules: validation.ReadRules) -> _Validated:
    m, row, n = h.meters, h.read_row, len(h.read_row)
    first = np.ones(n, np.bool_)
    first[1:] = row[1:] != row[:-1]
    # Each read's base is the read before it on the same meter; the first one's is the installation.
    base = np.where(first, m.install_reading[row], np.roll(h.reading, 1))
    base_on = np.where(first, m.installed[row], np.roll(h.read_date, 1)).astype("datetime64[D]")
    cycle_from, cycle_to = h.cycle_from[h.read_cycle], h.cycle_to[h.read_cycle]
    zeros, no = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    arrays = validation.ReadArrays(
        reading=h.reading, read_on=h.read_date, base=base, base_on=base_on, dial_digits=m.dial_digits[row],
        cycle_from=cycle_from, cycle_to=cycle_to, stated_previous=h.stated_previous,
        has_stated_previous=h.has_stated_previous, replaced=no, old_final=zeros, new_install=zeros,
        last_year_usage=zeros, last_year_days=zeros, recent_usage=zeros, recent_days=zeros, history_count=zeros)
    # Usage depends on readings and bases only, so a first pass without baselines gives the usage
    # the baselines are built from; the second pass adds HIGH and LOW.
    usage = validation.validate_reads(arrays, today=today, rules=rules).usage
    baselines = history_baselines(group=row, read_on=h.read_date, period_from=base_on, usage=usage,
                                  valid=np.ones(n, np.bool_), rules=rules)
    result = validation.validate_reads(validation.ReadArrays(**{**vars(arrays), **baselines}), today=today,
                                       rules=rules)
    return _Validated(base, base_on, first, result.usage, result.flags, cycle_from, cycle_to)


def _findings(h: ReadHistory, v: _Validated, flagged: IntArray, *, today: date,
              rules: validation.ReadRules) -> list[str]:
    """Findings JSON of the flagged reads, from the scalar rules (their explanations); the scalar
    flags must equal the vectorised ones, or the load stops."""
    m = h.meters
    starts = np.maximum.accumulate(np.where(v.first, np.arange(len(v.first)), 0))
    out = []
    window = timedelta(days=HISTORY_DAYS)
    for i in flagged.tolist():
        r = int(h.read_row[i])
        read_on = _day(h.read_date[i])
        periods = [validation.UsagePeriod(_day(v.base_on[j]), _day(h.read_date[j]), _milli_decimal(v.usage[j]))
                   for j in range(int(starts[i]), i) if _day(h.read_date[j]) >= read_on - window]
        context = validation.MeterContext(
            dial_digits=int(m.dial_digits[r]), install_reading=_milli_decimal(m.install_reading[r]),
            install_on=_day(m.installed[r]), cycle_from=_day(v.cycle_from[i]), cycle_to=_day(v.cycle_to[i]),
            previous_reading=None if v.first[i] else _milli_decimal(v.base[i]),
            previous_read_on=None if v.first[i] else _day(v.base_on[i]))
        check = validation.validate_read(
            validation.MeterRead(_milli_decimal(h.reading[i]), read_on,
                                 _milli_decimal(h.stated_previous[i]) if h.has_stated_previous[i] else None),
            context, periods, today=today, rules=rules)
        if int(check.flags) != int(v.flags[i]):
            raise DomainError("reads", _("read %(index)s: the batch rules gave flags %(batch)s, the single-read "
                                         "rules %(single)s"), index=i, batch=int(v.flags[i]), single=int(check.flags))
        out.append(json.dumps(_findings_json(check.findings), ensure_ascii=False))
    return out


def reads_bulk_load(*, actor: Any, history: ReadHistory, today: date, reason: str, batch_ref: str = "",
                    rules: validation.ReadRules | None = None) -> dict[str, Any]:
    """Write routes, stops, cycles, reads and review entries of ``history`` in one transaction
    (all or nothing). Into empty tables the indexes and constraints are built after the COPY."""
    rules = rules or validation.DEFAULT_RULES
    h, m = history, history.meters
    started = time.perf_counter()
    v = _validate_history(h, today=today, rules=rules)
    route_of_read = h.cycle_route[h.read_cycle]
    # The newest cycle of each route that has reads: its flagged reads wait for review.
    has_reads = np.bincount(h.read_cycle, minlength=len(h.cycle_route)) > 0
    period_day = h.cycle_period.astype("datetime64[D]").astype(np.int64)
    newest = np.full(len(h.routes), np.iinfo(np.int64).min)
    np.maximum.at(newest, h.cycle_route[has_reads], period_day[has_reads])
    latest = period_day[h.read_cycle] == newest[route_of_read]
    needs_review = (v.flags & int(validation.NEEDS_REVIEW)) != 0
    pending = needs_review & latest
    flagged = np.flatnonzero(v.flags != 0)
    findings = _findings(h, v, flagged, today=today, rules=rules)
    validate_s = time.perf_counter() - started

    started = time.perf_counter()
    tables = list(READ_TABLES)
    inserts = ("metering.Route:insert_insert", "metering.ReadReview:insert_insert")
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="bulk"), pgtrigger.ignore(*inserts):
        # Sorting 13 million index entries spills to disk at the usual 512 MB.
        with (bulk.indexes_built_after(tables, maintenance_work_mem="1GB") if bulk.tables_empty(tables)
              else nullcontext()):
            counts = _write(h, v, route_of_read=route_of_read, pending=pending, needs_review=needs_review,
                            flagged=flagged, findings=findings, batch_ref=batch_ref)
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'ANALYZE "{table}"')
    counts.update(validate_s=round(validate_s, 2), write_s=round(time.perf_counter() - started, 2),
                  flagged=len(flagged), pending=int(pending.sum()), meters=len(m.meter_id))
    return counts


def _write(h: ReadHistory, v: _Validated, *, route_of_read: IntArray, pending: BoolArray, needs_review: BoolArray,
           flagged: IntArray, findings: list[str], batch_ref: str) -> dict[str, Any]:
    m = h.meters
    now = timezone.now()
    stamp = now.isoformat()
    with connection.cursor() as cursor:
        cursor.execute("SELECT code, id, company_id FROM org_orgnode")
        nodes = {code: (pk, company) for code, pk, company in cursor.fetchall()}
        cursor.execute("SELECT username, id FROM org_user WHERE username = ANY(%s)",
                       [sorted({r.reader for r in h.routes if r.reader})])
        users = dict(cursor.fetchall())
    for route in h.routes:
        if route.node_code not in nodes:
            raise DomainError("routes", _("unknown node %(code)s"), code=route.node_code)
    route_first = bulk.id_block("metering_route", len(h.routes))
    bulk.copy_rows("metering_route", ["id", "code", "name", "company_id", "node_id", "commodity", "reader_id",
                                      "cycle_months", "cycle_parity", "read_day", "active", "created_at"],
                   ((route_first + i, r.code, r.name, nodes[r.node_code][1] or nodes[r.node_code][0],
                     nodes[r.node_code][0], r.commodity, users.get(r.reader), r.cycle_months, r.cycle_parity,
                     r.read_day, True, now) for i, r in enumerate(h.routes)))
    route_ids = route_first + np.arange(len(h.routes), dtype=np.int64)
    bulk.copy_columns("metering_routestop", [
        bulk.Column("route_id", "int", route_ids[h.stop_route]),
        bulk.Column("service_point_id", "int", m.service_point_id),
        bulk.Column("sequence", "int", h.stop_sequence)], len(m.meter_id))

    cycle_first = bulk.id_block("metering_readcycle", len(h.cycle_route))
    cycle_ids = cycle_first + np.arange(len(h.cycle_route), dtype=np.int64)
    for status, rows in (("open", h.cycle_open), ("closed", ~h.cycle_open)):
        ix = np.flatnonzero(rows)
        bulk.copy_columns("metering_readcycle", [
            bulk.Column("id", "int", cycle_ids[ix]), bulk.Column("route_id", "int", route_ids[h.cycle_route[ix]]),
            bulk.Column("period", "date", h.cycle_period[ix]),
            bulk.Column("scheduled_date", "date", h.cycle_scheduled[ix]),
            bulk.Column("window_from", "date", h.cycle_from[ix]), bulk.Column("window_to", "date", h.cycle_to[ix]),
            bulk.Column("status", "text", status), bulk.Column("created_at", "text", stamp)], len(ix))

    n = len(h.read_row)
    read_first = bulk.id_block("metering_meterread", n)
    read_ids = np.zeros(n, np.int64)
    reader_of_route = np.array([users.get(r.reader, 0) if r.reader else 0 for r in h.routes] or [0], np.int64)
    creator = reader_of_route[route_of_read]
    remote = np.array([s == "remote" for s in h.sources], np.bool_)[h.read_source]
    creator = np.where(remote, 0, creator)
    row = h.read_row
    clean = v.flags == 0
    # Each COPY group goes in (service point, date) order: a service point's reads then lie in a
    # few sorted runs on disk, which reads_revalidate merges instead of sorting from scratch.
    by_point = np.argsort(m.service_point_id[row] * np.int64(1 << 24)
                          + h.read_date.astype("datetime64[D]").astype(np.int64), kind="stable")
    # Ids follow the order rows are written in, so id order is table order.
    groups = [(source, with_creator, by_point[(clean & (h.read_source == s) & ((creator > 0) == with_creator))[by_point]])
              for s, source in enumerate(h.sources) for with_creator in (True, False)]
    written = np.concatenate([flagged] + [ix for _s, _c, ix in groups])
    read_ids[written] = read_first + np.arange(len(written), dtype=np.int64)
    # Flagged reads carry their findings (JSON): few enough to go row by row;
    # first, so the first rows of the table hold the newest cycle's anomalies too.
    bulk.copy_rows("metering_meterread", [
        "id", "meter_id", "service_point_id", "node_id", "cycle_id", "read_date", "reading", "previous_reading",
        "previous_date", "usage", "source", "status", "flags", "findings", "batch_ref", "created_by_id",
        "reviewed_at"], (
        (int(read_ids[i]), int(m.meter_id[row[i]]), int(m.service_point_id[row[i]]), int(m.node_id[row[i]]),
         int(cycle_ids[h.read_cycle[i]]), _day(h.read_date[i]), _milli_decimal(h.reading[i]),
         _milli_decimal(v.base[i]), _day(v.base_on[i]), _milli_decimal(v.usage[i]), h.sources[h.read_source[i]],
         "pending" if pending[i] else "accepted", int(v.flags[i]), text, batch_ref,
         int(creator[i]) or None, None if pending[i] or not needs_review[i] else now)
        for i, text in zip(flagged.tolist(), findings, strict=True)))
    for source, with_creator, ix in groups:
        if not len(ix):
            continue
        columns = [
            bulk.Column("id", "int", read_ids[ix]), bulk.Column("meter_id", "int", m.meter_id[row[ix]]),
            bulk.Column("service_point_id", "int", m.service_point_id[row[ix]]),
            bulk.Column("node_id", "int", m.node_id[row[ix]]),
            bulk.Column("cycle_id", "int", cycle_ids[h.read_cycle[ix]]),
            bulk.Column("read_date", "date", h.read_date[ix]), bulk.Column("reading", "milli", h.reading[ix]),
            bulk.Column("previous_reading", "milli", v.base[ix]),
            bulk.Column("previous_date", "date", v.base_on[ix]), bulk.Column("usage", "milli", v.usage[ix]),
            bulk.Column("source", "text", source), bulk.Column("status", "text", "accepted"),
            bulk.Column("flags", "text", "0"), bulk.Column("batch_ref", "text", batch_ref)]
        if with_creator:
            columns.append(bulk.Column("created_by_id", "int", creator[ix]))
        bulk.copy_columns("metering_meterread", columns, len(ix))
    # The review queue: open for the newest cycle, decided for the flagged reads before it.
    reviewed = np.flatnonzero(needs_review)
    reviews = bulk.copy_rows("metering_readreview", [
        "service_point_id", "node_id", "period", "cycle_id", "read_id", "reasons", "flags", "status",
        "decided_at", "note", "created_at"], (
        (int(m.service_point_id[row[i]]), int(m.node_id[row[i]]), _day(h.cycle_period[h.read_cycle[i]]),
         int(cycle_ids[h.read_cycle[i]]), int(read_ids[i]), ["flagged"], int(v.flags[i]),
         "open" if pending[i] else "accepted", None if pending[i] else now, "", now)
        for i in reviewed.tolist()))
    return {"routes": len(h.routes), "stops": len(m.meter_id), "cycles": len(h.cycle_route), "reads": n,
            "reviews": reviews, "open_reviews": int(pending.sum())}


# --------------------------------------------------------------------------------------------------
# Validating every stored read again
# --------------------------------------------------------------------------------------------------

# Facts not kept in columns: the base the reader stated and the replaced meter's readings. Their
# flags are carried over from the stored read; reads across a meter change keep their stored usage.
_CARRIED = int(validation.ReadFlag.WRONG_BASE | validation.ReadFlag.METER_REPLACED)


@dataclass(frozen=True)
class Revalidation:
    reads: int
    flag_counts: dict[str, int]
    changed: int  # reads whose flags differ from the stored ones
    needs_review: int
    load_s: float
    validate_s: float


# Each live read as one row of integers: ids, dates as days since 2000-01-01 (PostgreSQL's epoch),
# readings and usage in thousandths, the stored flags.
_READ_ROW = ("r.service_point_id", "r.meter_id", "COALESCE(r.cycle_id, 0)", "r.read_date - DATE '2000-01-01'",
             "r.previous_date - DATE '2000-01-01'", "r.reading * 1000", "r.previous_reading * 1000",
             "r.usage * 1000", "r.flags")
_SP, _METER, _CYCLE, _READ_ON, _BASE_ON, _READING, _BASE, _USAGE, _FLAGS = range(len(_READ_ROW))
_PG_EPOCH_DAYS = int(np.datetime64("2000-01-01", "D").astype(np.int64))
_READ_SOURCE = """FROM metering_meterread r
                  WHERE r.ctid >= %s::tid AND r.ctid < %s::tid AND r.status IN ('pending', 'accepted')
                    AND r.kind <> 'estimated'"""
_PAGES_PER_PART = 10_000  # ~450,000 reads, ~50 MB on the wire: the two streams end close together
_CHUNK = 1 << 18  # reads checked at once: the rules' working set stays in the CPU caches


class _Rows:
    """The live reads as one (rows, 9) int64 matrix, written part by part as the parts arrive (in
    any order); ``spans`` says where each part (by its index in table order) landed. A part that
    no longer fits the estimated capacity gets an array of its own."""

    def __init__(self, capacity: int) -> None:
        self.matrix = np.empty((max(capacity, 0), len(_READ_ROW)), np.int64)
        self.used = 0
        self.spans: dict[int, tuple[npt.NDArray[np.int64], int, int]] = {}
        self.lock = threading.Lock()

    def claim(self, part: int, rows: int) -> npt.NDArray[np.int64]:
        with self.lock:
            if self.used + rows <= len(self.matrix):
                start, self.used = self.used, self.used + rows
                self.spans[part] = (self.matrix, start, rows)
                return self.matrix[start:start + rows]
            own = np.empty((rows, len(_READ_ROW)), np.int64)
            self.spans[part] = (own, 0, rows)
            return own

    def table_order(self, limit: int | None) -> tuple[npt.NDArray[np.int64], IntArray | None]:
        """The matrix holding every row, and the positions of the first ``limit`` rows in table
        order (None: all of the matrix's rows, already in table order)."""
        parts = [self.spans[k] for k in sorted(self.spans)]
        sizes = [rows for _array, _start, rows in parts]
        starts = _exclusive_cumsum(np.array(sizes, np.int64))[:-1].tolist()
        if any(array is not self.matrix for array, _start, _rows in parts):
            matrix = np.concatenate([array[start:start + rows] for array, start, rows in parts])
            parts = [(matrix, start, rows) for start, rows in zip(starts, sizes, strict=True)]
        else:
            matrix = self.matrix[:self.used]
        total = sum(sizes)
        in_order = all(start == at for (_array, start, _rows), at in zip(parts, starts, strict=True))
        if in_order and (limit is None or limit >= total):
            return matrix, None
        pieces, left = [], total if limit is None else limit
        for _array, start, rows in parts:
            take = min(rows, left)
            pieces.append(np.arange(start, start + take, dtype=np.int64))
            left -= take
        return matrix, np.concatenate(pieces) if pieces else np.zeros(0, np.int64)


def _read_part(rows: _Rows, part: int, snapshot: str | None, first_page: int, end_page: int) -> int:
    """The live reads on a range of table pages (a TID range scan: sequential, whatever order the
    ids are in) into ``rows``; with a ``snapshot``, on this thread's own connection in the
    caller's snapshot. Returns how many."""
    bounds = [f"({first_page},0)", f"({end_page},0)"]
    if snapshot is None:
        return len(bulk.fetch_rows(_READ_SOURCE, bounds, _READ_ROW, into=lambda n: rows.claim(part, n)))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
        return len(bulk.fetch_rows(_READ_SOURCE, bounds, _READ_ROW, into=lambda n: rows.claim(part, n)))


def _parallel_parts(rows: _Rows, snapshot: str, ranges: list[tuple[int, int, int]], streams: int,
                    meanwhile: Any = None) -> tuple[int, Any]:
    """Page ranges (part, first, end) taken in turn by ``streams`` threads, each on its own
    connection (closed when the ranges are done); ``meanwhile()`` runs in the calling thread.
    Returns the reads found and what ``meanwhile`` returned."""
    found: list[int] = []
    errors: list[BaseException] = []
    jobs = iter(ranges)
    lock = threading.Lock()

    def work() -> None:
        try:
            while True:
                with lock:
                    job = next(jobs, None)
                if job is None or errors:
                    return
                found.append(_read_part(rows, job[0], snapshot, job[1], job[2]))
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(max(1, min(streams, len(ranges))))]
    for t in threads:
        t.start()
    try:
        result = meanwhile() if meanwhile is not None else None
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return sum(found), result


def _load_live_reads(limit: int | None, streams: int = 2) -> dict[str, Any]:
    """The live reads by page ranges, ``streams`` at a time: PostgreSQL produces the rows on one
    core per connection, and that is most of the time. The workers share the caller's snapshot,
    so the parts add up to one consistent read; the side tables are read meanwhile. With a
    ``limit``, the pages that hold about that many rows (from the planner's statistics), read on
    while dead rows leave it short, then cut to the first ``limit`` in table order."""
    inside = connection.in_atomic_block  # then only this connection sees what the caller wrote
    with transaction.atomic(), connection.cursor() as cursor:
        snapshot = None
        if not inside:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
        cursor.execute("SELECT pg_relation_size('metering_meterread') / current_setting('block_size')::int8, "
                       "reltuples, relpages FROM pg_class WHERE oid = 'metering_meterread'::regclass")
        total, tuples, counted_pages = cursor.fetchone()
        end = total + 1  # one page past the end keeps the last range open for rows added meanwhile
        per_page = tuples / counted_pages if tuples > 0 and counted_pages > 0 else 0
        if limit is not None and per_page:
            end = min(end, int(limit / per_page * 1.05) + 1)
        rows = _Rows(int(per_page * end * 1.1) + 10_000)
        start, got, part, side = 0, 0, 0, None
        while True:
            ranges = []
            for a in range(start, end, _PAGES_PER_PART):
                ranges.append((part, a, min(a + _PAGES_PER_PART, end)))
                part += 1
            if inside:
                got += sum(_read_part(rows, *r[:1], None, *r[1:]) for r in ranges)
            else:
                assert snapshot is not None
                found, read_meanwhile = _parallel_parts(rows, snapshot, ranges, streams,
                                                        meanwhile=_side_tables if side is None else None)
                side = side if side is not None else read_meanwhile
                got += found
            if limit is None or got >= limit or end > total:
                break
            start, end = end, min(total + 1, end + 2 * (end - start) + 1)
        if side is None:
            side = _side_tables()
    matrix, selected = rows.table_order(limit)
    return {"matrix": matrix, "selected": selected, **side}


def _side_tables() -> dict[str, Any]:
    cycles = bulk.fetch_columns("FROM metering_readcycle", [], [
        ("id", "id", "int8"), ("window_from", "window_from", "date"), ("window_to", "window_to", "date")])
    meters = bulk.fetch_columns("FROM customers_meter", [], [("id", "id", "int8"),
                                                            ("dial_digits", "dial_digits", "int2")])
    return {"cycles": cycles, "meters": meters}


def _lookup_table(ids: IntArray, values: Any, missing: Any) -> Any:
    """A function giving the ``values`` of the row with each key's id (``missing`` when there is
    none): one gather from a dense table when the ids are compact (sequence ids are), else a
    binary search."""
    values = np.asarray(values)
    missing = np.asarray(missing, dtype=values.dtype)
    if not len(ids):
        return lambda keys: np.full(len(keys), missing, dtype=values.dtype)
    top = int(ids.max())
    if int(ids.min()) >= 0 and top <= 4 * len(ids) + 1_000_000:
        table = np.full(top + 2, missing, dtype=values.dtype)
        table[ids] = values
        return lambda keys: table[np.clip(keys, 0, top + 1)]
    order = np.argsort(ids, kind="stable")
    ids, values = ids[order], values[order]

    def search(keys: IntArray) -> Any:
        at = np.clip(np.searchsorted(ids, keys), 0, len(ids) - 1)
        return np.where(ids[at] == keys, values[at], missing)

    return search


def _lookup(ids: IntArray, values: Any, keys: IntArray, missing: Any) -> Any:
    return _lookup_table(ids, values, missing)(keys)


def _chunk_bounds(group: Any, n: int, size: int) -> list[int]:
    """Positions cutting ``n`` sorted reads into runs of about ``size``, each cut at the first read
    of a group (``group(a, b)`` gives the group ids of sorted positions a…b-1)."""
    bounds = [0]
    while bounds[-1] + size < n:
        cut, step = bounds[-1] + size, 64
        last = int(group(cut - 1, cut)[0])
        while True:
            change = np.flatnonzero(group(cut, min(cut + step, n)) != last)
            if len(change):
                cut += int(change[0])
                break
            if cut + step >= n:
                cut = n
                break
            step *= 2
        if cut >= n:
            break
        bounds.append(cut)
    bounds.append(n)
    return bounds


def _check_reads(cols: npt.NDArray[np.int64], *, cycle_from: Any, cycle_to: Any, digits: Any, today: date,
                 rules: validation.ReadRules) -> IntArray:
    """The flags of the reads in ``cols`` (one row per ``_READ_ROW`` column, reads sorted by service
    point and date, every service point's reads complete), as ``reads_revalidate`` reports them."""
    n = cols.shape[1]
    read_on = (cols[_READ_ON] + _PG_EPOCH_DAYS).view("datetime64[D]")
    base_on = (cols[_BASE_ON] + _PG_EPOCH_DAYS).view("datetime64[D]")
    baselines = history_baselines(group=cols[_SP], read_on=read_on, period_from=base_on, usage=cols[_USAGE],
                                  valid=np.ones(n, np.bool_), rules=rules)
    zeros, no = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    result = validation.validate_reads(validation.ReadArrays(
        reading=cols[_READING], read_on=read_on, base=cols[_BASE], base_on=base_on,
        dial_digits=digits(cols[_METER]), cycle_from=cycle_from(cols[_CYCLE]), cycle_to=cycle_to(cols[_CYCLE]),
        stated_previous=zeros, has_stated_previous=no, replaced=no, old_final=zeros, new_install=zeros,
        **baselines), today=today, rules=rules)
    stored = cols[_FLAGS]
    replaced = (stored & int(validation.ReadFlag.METER_REPLACED)) != 0
    return np.where(replaced, stored, result.flags | (stored & _CARRIED))


def reads_revalidate(*, today: date, rules: validation.ReadRules | None = None,
                     limit: int | None = None, streams: int = 2) -> Revalidation:
    """Run the rules again over every live actual read (the first ``limit`` in table order): bases as
    stored, baselines rebuilt from the stored usage of each service point's history, exactly as
    ``reads.meter_reads_record`` would see them (estimated reads are neither checked nor
    history). Writes nothing.

    The reads are put in (service point, date) order once, then checked in runs of whole
    service points (``_CHUNK`` reads, ``streams`` runs at a time): each run's arrays stay in the
    CPU caches, and numpy works without the interpreter lock."""
    rules = rules or validation.DEFAULT_RULES
    started = time.perf_counter()
    data = _load_live_reads(limit, streams)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    matrix, selected, cycles, meters = data["matrix"], data["selected"], data["cycles"], data["meters"]
    key = matrix[:, _SP] * np.int64(1 << 24) + matrix[:, _READ_ON]
    if selected is not None:
        key = key[selected]
    n = len(key)
    if n > 1 and not bool(np.all(key[1:] >= key[:-1])):
        # The bulk load writes each COPY group in (service point, date) order: a few sorted runs,
        # which the stable sort (timsort) merges in near-linear time.
        order = np.argsort(key, kind="stable")
        order = selected[order] if selected is not None else order
    else:
        order = selected if selected is not None else np.arange(n, dtype=np.int64)
    del key
    lookups = {
        "cycle_from": _lookup_table(cycles["id"], cycles["window_from"], np.datetime64("0001-01-01", "D")),
        "cycle_to": _lookup_table(cycles["id"], cycles["window_to"], np.datetime64("9999-12-31", "D")),
        "digits": _lookup_table(meters["id"], meters["dial_digits"], validation.MAX_DIGITS + 1)}
    codes = [int(code) for code in validation.ReadFlag]

    def check(a: int, b: int) -> IntArray:
        cols = np.ascontiguousarray(matrix[order[a:b]].T)
        flags = _check_reads(cols, today=today, rules=rules, **lookups)
        return np.array([np.count_nonzero(flags & code) for code in codes]
                        + [np.count_nonzero(flags != cols[_FLAGS]),
                           np.count_nonzero(flags & int(validation.NEEDS_REVIEW))], np.int64)

    bounds = _chunk_bounds(lambda a, b: matrix[order[a:b], _SP], n, _CHUNK)
    spans = list(itertools.pairwise(bounds))
    totals = np.zeros(len(codes) + 2, np.int64)
    if streams > 1 and len(spans) > 1:
        with ThreadPoolExecutor(max_workers=streams) as pool:
            for counted in pool.map(lambda span: check(*span), spans):
                totals += counted
    else:
        for span in spans:
            totals += check(*span)
    counts = {code.name or "": int(totals[k]) for k, code in enumerate(validation.ReadFlag)}
    return Revalidation(
        reads=n, flag_counts={k: v for k, v in counts.items() if v}, changed=int(totals[-2]),
        needs_review=int(totals[-1]), load_s=round(load_s, 3), validate_s=round(time.perf_counter() - started, 3))
