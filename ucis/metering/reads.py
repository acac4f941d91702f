"""Recording meter reads (抄表录入): every way a read comes in — hand entry, handheld file, remote
feed, review correction — ends in ``meter_reads_record``, which checks, validates and stores a whole
batch set-based (one query per kind of fact, one staged INSERT).

Per read, in order:

1. Bad input is refused with the field and the reason, and nothing is stored for it: unknown meter
   (or one outside the actor's area — the two look the same), reading not a number / negative /
   wider than the dial, read date in the future, meter not installed on that date (removed, or
   not yet fitted), two different readings for one meter and day.
2. A repeat is a duplicate, not an error: the same meter, day and reading as a live read, or the
   same device message id (``external_ref``). Duplicates write nothing.
3. The base is the service point's last live *actual* read (or the meter's install reading); a
   meter changed since then is counted across both meters. Validation
   (``ucis.metering.validation``) flags it; a read with a flag that needs review waits in the
   review queue (status ``pending``), others are ``accepted``.
4. Estimated reads since the base are replaced: marked ``superseded``; those of earlier periods
   were billed, so their usage is taken off again as ``carried_usage`` (the true-up, 多退少补).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np
from django.db import connection, transaction

from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import DomainError, FieldProblem
from ucis.kernel.errors import gettext_noop as _
from ucis.metering import review, validation
from ucis.metering.models import MeterRead, ReadCycle, RouteStop
from ucis.platform.audit import audit_context
from ucis.platform.bulk import copy_rows, next_ids
from ucis.platform.lookups import pg_array

LIVE = ("pending", "accepted")
UNSCHEDULED_SOURCES = ("remote",)
HISTORY_DAYS = 400  # same month last year needs a little over a year of reads


@dataclass(frozen=True)
class ReadInput:
    """One read as it came in; ``reading`` is the raw text so bad input can be reported as typed."""

    meter: str  # serial
    read_date: date
    reading: str
    stated_previous: str | None = None
    external_ref: str | None = None
    note: str = ""
    row: str = ""  # where it came from, for reports ("row 12", a message id)


@dataclass(frozen=True)
class ReadOutcome:
    row: str
    meter: str
    status: str  # stored | duplicate | rejected
    read_id: int | None = None
    flags: int = 0
    usage: Decimal | None = None
    read_status: str = ""  # pending | accepted
    problems: tuple[FieldProblem, ...] = ()

    @property
    def codes(self) -> list[str]:
        return validation.flag_codes(self.flags)


@dataclass
class RecordResult:
    outcomes: list[ReadOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def stored(self) -> int:
        return self.count("stored")

    @property
    def duplicates(self) -> int:
        return self.count("duplicate")

    @property
    def rejected(self) -> list[ReadOutcome]:
        return [o for o in self.outcomes if o.status == "rejected"]

    @property
    def pending(self) -> int:
        return sum(1 for o in self.outcomes if o.read_status == "pending")


def _reject(read: ReadInput, field_name: str, template: str, **params: Any) -> ReadOutcome:
    return ReadOutcome(read.row, read.meter, "rejected", problems=(FieldProblem(field_name, template, params),))


def _installation_on(installations: list[dict[str, Any]], on: date) -> dict[str, Any] | None:
    for inst in reversed(installations):
        if inst["installed_date"] <= on and (inst["removed_date"] is None or on <= inst["removed_date"]):
            return inst
    return None


def _not_installed(read: ReadInput, installations: list[dict[str, Any]]) -> ReadOutcome:
    earlier = [i for i in installations if i["removed_date"] is not None and i["removed_date"] < read.read_date]
    if earlier and not any(i["installed_date"] > read.read_date for i in installations):
        return _reject(read, "meter", _("meter %(serial)s was removed on %(removed)s; it cannot be read on %(date)s"),
                       serial=read.meter, removed=earlier[-1]["removed_date"].isoformat(),
                       date=read.read_date.isoformat())
    if installations:
        return _reject(read, "read_date", _("meter %(serial)s was not installed on %(date)s"),
                       serial=read.meter, date=read.read_date.isoformat())
    return _reject(read, "meter", _("meter %(serial)s is not installed anywhere"), serial=read.meter)


@dataclass
class _Candidate:
    index: int
    read: ReadInput
    meter: dict[str, Any]
    installation: dict[str, Any]
    reading: Decimal
    stated: Decimal | None


def _findings_json(findings: Iterable[validation.Finding]) -> list[dict[str, Any]]:
    return [{"code": f.code, "template": f.template, "params": dict(f.params)} for f in findings]


def meter_reads_record(*, actor: Any, reads: Sequence[ReadInput], source: str, today: date,
                       batch_ref: str = "", reason: str = "", rules: validation.ReadRules | None = None,
                       created_by_id: Any = None) -> RecordResult:
    """Check, validate and store ``reads`` (see the module docstring). All stored or none: a
    database error rolls the batch back; refused rows are reported and stored nowhere."""
    rules = rules or validation.DEFAULT_RULES
    outcomes: list[ReadOutcome | None] = [None] * len(reads)
    meters = {m["serial"]: m for m in customer_selectors.meter_reading_rows(
        actor=actor, serials={r.meter.strip() for r in reads})}

    candidates: list[_Candidate] = []
    seen: dict[tuple[int, date], tuple[Decimal, int]] = {}
    for i, read in enumerate(reads):
        meter = meters.get(read.meter.strip())
        if meter is None:
            outcomes[i] = _reject(read, "meter", _("there is no meter %(serial)s in your area"), serial=read.meter)
            continue
        parsed = validation.parse_reading(str(read.reading), dial_digits=meter["dial_digits"])
        if parsed.flags:
            finding = parsed.findings[0]
            outcomes[i] = ReadOutcome(read.row, read.meter, "rejected", flags=int(parsed.flags),
                                      problems=(FieldProblem("reading", finding.template, finding.params),))
            continue
        if read.read_date > today:
            outcomes[i] = _reject(read, "read_date", _("the read date %(date)s is in the future"),
                                  date=read.read_date.isoformat())
            continue
        stated = None
        if read.stated_previous not in (None, ""):
            stated_parsed = validation.parse_reading(str(read.stated_previous), dial_digits=meter["dial_digits"])
            if stated_parsed.value is None or stated_parsed.flags:
                finding = stated_parsed.findings[0]
                outcomes[i] = ReadOutcome(read.row, read.meter, "rejected",
                                          problems=(FieldProblem("previous_reading", finding.template,
                                                                 finding.params),))
                continue
            stated = stated_parsed.value
        installation = _installation_on(meter["installations"], read.read_date)
        if installation is None:
            outcomes[i] = _not_installed(read, meter["installations"])
            continue
        assert parsed.value is not None
        key = (meter["id"], read.read_date)
        if key in seen:
            value, first = seen[key]
            if value == parsed.value:
                outcomes[i] = ReadOutcome(read.row, read.meter, "duplicate")
            else:
                outcomes[i] = _reject(read, "reading",
                                      _("meter %(serial)s has two different readings for %(date)s in this batch "
                                        "(%(first)s and %(second)s)"), serial=read.meter,
                                      date=read.read_date.isoformat(), first=str(value), second=str(parsed.value))
            continue
        seen[key] = (parsed.value, i)
        candidates.append(_Candidate(i, read, meter, installation, parsed.value, stated))

    with transaction.atomic(), audit_context(actor=actor, reason=reason or f"meter reads ({source})", source=source):
        candidates = _drop_existing(candidates, outcomes, source)
        if candidates:
            _validate_and_store(candidates, outcomes, actor=actor, source=source, today=today, rules=rules,
                                batch_ref=batch_ref, created_by_id=created_by_id)
    return RecordResult([o for o in outcomes if o is not None])


def _drop_existing(candidates: list[_Candidate], outcomes: list[ReadOutcome | None],
                   source: str) -> list[_Candidate]:
    """Repeats of live reads and of stored device messages are duplicates; a different reading
    for a day already read is refused (a correction goes through review)."""
    if not candidates:
        return candidates
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT r.meter_id, r.read_date, r.reading FROM metering_meterread r
                 JOIN unnest(%s::bigint[], %s::date[]) AS k(meter_id, read_date)
                   ON r.meter_id = k.meter_id AND r.read_date = k.read_date
                WHERE r.status IN ('pending', 'accepted')""",
            [pg_array(c.meter["id"] for c in candidates), pg_array(c.read.read_date for c in candidates)])
        live = {(m, d): v for m, d, v in cursor.fetchall()}
        refs = [c.read.external_ref for c in candidates if c.read.external_ref]
        stored_refs: set[str] = set()
        if refs:
            cursor.execute("SELECT external_ref FROM metering_meterread "
                           "WHERE source = %s AND external_ref = ANY(%s::varchar[])", [source, pg_array(refs)])
            stored_refs = {r for (r,) in cursor.fetchall()}
    kept = []
    for c in candidates:
        existing = live.get((c.meter["id"], c.read.read_date))
        if c.read.external_ref and c.read.external_ref in stored_refs:
            outcomes[c.index] = ReadOutcome(c.read.row, c.read.meter, "duplicate")
        elif existing is None:
            kept.append(c)
        elif existing == c.reading:
            outcomes[c.index] = ReadOutcome(c.read.row, c.read.meter, "duplicate")
        else:
            outcomes[c.index] = _reject(c.read, "reading",
                                        _("meter %(serial)s already has the reading %(existing)s for %(date)s; "
                                          "correct it through the review queue"), serial=c.read.meter,
                                        existing=str(existing), date=c.read.read_date.isoformat())
    return kept


class _Prior(NamedTuple):
    """A live read of the service point's history. It also serves as the validation's
    ``UsagePeriod`` (``start``/``end``/``usage``/``estimated``/``days``), so a batch of thousands
    of reads with a year of history each builds no further objects per read."""

    read_id: int | None
    meter_id: int
    read_date: date
    reading: Decimal
    usage: Decimal
    previous_date: date
    kind: str
    period: date | None

    @property
    def start(self) -> date:
        return self.previous_date

    @property
    def end(self) -> date:
        return self.read_date

    @property
    def estimated(self) -> bool:
        return self.kind == "estimated"

    @property
    def days(self) -> int:
        return (self.read_date - self.previous_date).days


def _prior_reads(point_ids: list[int], since: date, *, read_dates: Sequence[date], keep: int) -> dict[int, list[_Prior]]:
    """The history the batch's checks need, not the whole year: every live read from the batch's
    earliest date on, every estimate (a true-up needs them), the ``keep`` latest actual reads
    before that date (the last actual read is the base; the recent periods and the minimum
    history count come from them), and the reads ending in the months one year before the batch's
    dates (the seasonal baseline). Checks see exactly what the whole history would give them."""
    first = min(read_dates)
    last_year = sorted({f"{d.year - 1:04d}-{d.month:02d}" for d in read_dates})
    priors: dict[int, list[_Prior]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT sp, id, meter_id, read_date, reading, usage, previous_date, kind, period FROM (
                   SELECT r.service_point_id AS sp, r.id, r.meter_id, r.read_date, r.reading, r.usage,
                          r.previous_date, r.kind, c.period,
                          r.read_date >= %s OR r.kind = 'estimated' AS always,
                          row_number() OVER (PARTITION BY r.service_point_id, r.read_date >= %s OR r.kind = 'estimated'
                                             ORDER BY r.read_date DESC, r.id DESC) AS rn
                     FROM metering_meterread r LEFT JOIN metering_readcycle c ON c.id = r.cycle_id
                    WHERE r.service_point_id = ANY(%s::bigint[]) AND r.status IN ('pending', 'accepted')
                      AND r.read_date >= %s) h
                WHERE always OR rn <= %s OR to_char(read_date, 'YYYY-MM') = ANY(%s)
                ORDER BY sp, read_date, id""", [first, first, pg_array(point_ids), since, keep, last_year])
        for sp, rid, mid, rdate, reading, usage, pdate, kind, period in cursor.fetchall():
            priors[sp].append(_Prior(rid, mid, rdate, reading, usage, pdate, kind, period))
    return priors


def _cycles_for(point_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The open or recent cycles of each service point's route, oldest first."""
    stops = dict(RouteStop.objects.filter(service_point_id__any=point_ids).values_list("service_point_id", "route_id"))
    by_route: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for cycle in (ReadCycle.objects.filter(route_id__in=set(stops.values())).order_by("route_id", "period")
                  .values("id", "route_id", "period", "window_from", "window_to", "status")):
        by_route[cycle["route_id"]].append(cycle)
    return {sp: by_route.get(route, []) for sp, route in stops.items()}


def _cycle_for(cycles: list[dict[str, Any]], on: date) -> dict[str, Any] | None:
    for cycle in cycles:
        if cycle["window_from"] <= on < cycle["window_to"]:
            return cycle
    open_cycles = [c for c in cycles if c["status"] == "open"]
    return open_cycles[-1] if open_cycles else None


def period_of(on: date) -> date:
    return on.replace(day=1)


def _validate_and_store(candidates: list[_Candidate], outcomes: list[ReadOutcome | None], *, actor: Any,
                        source: str, today: date, rules: validation.ReadRules, batch_ref: str,
                        created_by_id: Any) -> None:
    point_ids = sorted({c.installation["service_point_id"] for c in candidates})
    since = min(c.read.read_date for c in candidates) - timedelta(days=HISTORY_DAYS)
    priors = _prior_reads(point_ids, since, read_dates=[c.read.read_date for c in candidates],
                          keep=max(rules.min_history, rules.recent_periods) + 2)
    # A point's installation history is only needed where its reads span more than one meter (a
    # replacement to count across); most batches have none, and for thousands of points it is one of
    # the costliest queries of the batch.
    meters_at: dict[int, set[int]] = defaultdict(set)
    for c in candidates:
        meters_at[c.installation["service_point_id"]].add(c.meter["id"])
    for point, history in priors.items():
        meters_at[point].update(p.meter_id for p in history)
    replaced = [point for point, meters in meters_at.items() if len(meters) > 1]
    installs_by_point: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if replaced:
        for inst in customer_selectors.service_point_installations(service_point_ids=replaced):
            installs_by_point[inst["service_point_id"]].append(inst)
    cycles = _cycles_for(point_ids)

    # Reads of one service point are taken in date order, each the base of the next.
    candidates.sort(key=lambda c: (c.installation["service_point_id"], c.read.read_date))
    rows: list[dict[str, Any]] = []
    for c in candidates:
        point = c.installation["service_point_id"]
        history = priors[point]
        dates = [p.read_date for p in history]
        upto = bisect.bisect_left(dates, c.read.read_date)
        earlier = history[:upto]
        actual = [p for p in earlier if p.kind != "estimated"]
        last = actual[-1] if actual else None
        estimates = [p for p in earlier if p.kind == "estimated" and (last is None or p.read_date > last.read_date)]
        cycle = _cycle_for(cycles.get(point, []), c.read.read_date)
        replacement = None
        if last is not None and last.meter_id != c.meter["id"]:
            removed = [i for i in installs_by_point[point]
                       if i["meter_id"] == last.meter_id and i["removed_date"] is not None
                       and i["removed_date"] >= last.read_date]
            if removed:
                replacement = validation.MeterReplacement(old_final=Decimal(removed[0]["removal_reading"] or 0),
                                                          new_install=Decimal(c.installation["install_reading"]))
        if last is not None and (replacement or last.meter_id == c.meter["id"]):
            previous_reading: Decimal | None = last.reading
            previous_on: date | None = last.read_date
        else:
            previous_reading, previous_on = None, None
        # The window is for readers' visits; a smart meter reports whenever it is due, so remote
        # reads are never out of cycle (they still join the cycle of their date, else the open one).
        windowed = cycle is not None and source not in UNSCHEDULED_SOURCES
        context = validation.MeterContext(
            dial_digits=c.meter["dial_digits"], install_reading=Decimal(c.installation["install_reading"]),
            install_on=c.installation["installed_date"],
            cycle_from=cycle["window_from"] if windowed else date.min,
            cycle_to=cycle["window_to"] if windowed else date.max,
            previous_reading=previous_reading, previous_read_on=previous_on, replacement=replacement)
        periods = [p for p in earlier if p.read_date > p.previous_date]
        rows.append({"c": c, "context": context, "periods": periods, "cycle": cycle, "estimates": estimates,
                     "point": point})
        # Later reads of the same point in this batch see this one as their base.
        bisect.insort(history, _Prior(None, c.meter["id"], c.read.read_date, c.reading, Decimal(0),
                                      c.read.read_date, "actual", None), key=lambda p: p.read_date)

    batch = _arrays(rows, rules)
    result = validation.validate_reads(batch, today=today, rules=rules)
    ids = next_ids("metering_meterread", len(rows))
    staged = []
    superseded: list[int] = []
    for n, row in enumerate(rows):
        c, context = row["c"], row["context"]
        flags = int(result.flags[n])
        usage = Decimal(int(result.usage[n])) / 1000
        findings: list[dict[str, Any]] | None = None
        if flags:
            check = validation.validate_read(
                validation.MeterRead(c.reading, c.read.read_date, c.stated), context, row["periods"],
                today=today, rules=rules)
            findings = _findings_json(check.findings)
        period = row["cycle"]["period"] if row["cycle"] else period_of(c.read.read_date)
        carried = Decimal(0)
        for est in row["estimates"]:
            superseded.append(est.read_id)
            if (est.period or period_of(est.read_date)) < period:
                carried -= est.usage
        if row["estimates"]:
            findings = (findings or []) + [{"code": "TRUE_UP", "template": _(
                "replaces %(count)s estimated read(s) totalling %(estimated)s; %(billed)s of it was billed before "
                "and is taken off this bill"), "params": {
                    "count": len(row["estimates"]), "billed": str(-carried),
                    "estimated": str(sum((e.usage for e in row["estimates"]), Decimal(0)))}}]
        base_reading = context.previous_reading if context.previous_reading is not None else context.install_reading
        base_on = context.previous_read_on or context.install_on
        status = "pending" if flags & int(validation.NEEDS_REVIEW) else "accepted"
        staged.append((ids[n], c.meter["id"], row["point"], c.installation["service_point__node_id"],
                       row["cycle"]["id"] if row["cycle"] else None, c.read.read_date, c.reading, base_reading,
                       base_on, usage, carried, "actual", source, status, flags, findings, c.read.external_ref,
                       batch_ref, created_by_id if created_by_id is not None else getattr(actor, "pk", None),
                       c.read.note[:200], period))
    inserted = _insert(staged)
    if superseded:
        MeterRead.objects.filter(pk__in=superseded, status__in=LIVE).update(status="superseded")
    for n, row in enumerate(staged):
        c = rows[n]["c"]
        if row[0] in inserted:
            outcomes[c.index] = ReadOutcome(c.read.row, c.read.meter, "stored", read_id=row[0], flags=row[14],
                                            usage=row[9], read_status=row[13])
        else:  # a concurrent writer stored the same read first
            outcomes[c.index] = ReadOutcome(c.read.row, c.read.meter, "duplicate")
    review.reviews_after_reads([r for r in staged if r[0] in inserted], actor=actor)


READ_COLUMNS = ("id", "meter_id", "service_point_id", "node_id", "cycle_id", "read_date", "reading",
                "previous_reading", "previous_date", "usage", "carried_usage", "kind", "source", "status", "flags",
                "findings", "external_ref", "batch_ref", "created_by_id", "note")


def _insert(staged: list[tuple]) -> set[int]:
    """Stage with COPY, then one INSERT that skips what a concurrent writer stored meanwhile."""
    import json

    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS metering_read_stage "
                       "(LIKE metering_meterread INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        cursor.execute("TRUNCATE metering_read_stage")
    copy_rows("metering_read_stage", READ_COLUMNS,
              (r[:15] + (json.dumps(r[15], ensure_ascii=False) if r[15] is not None else None,) + r[16:20]
               for r in staged))
    cols = ", ".join(READ_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO metering_meterread ({cols}, created_at) SELECT {cols}, now() "
                       "FROM metering_read_stage ON CONFLICT DO NOTHING RETURNING id")
        return {r for (r,) in cursor.fetchall()}


def _milli(value: Decimal | None) -> int:
    return int(value * 1000) if value is not None else 0


UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _days(values: list[date]) -> np.ndarray:
    """Dates as datetime64[D] by their day numbers: numpy parses date objects one by one at ~2 µs
    each, a noticeable part of a remote-read batch."""
    ordinals = np.fromiter((d.toordinal() for d in values), dtype=np.int64, count=len(values))
    return (ordinals - UNIX_EPOCH_ORDINAL).astype("datetime64[D]")


def _arrays(rows: list[dict[str, Any]], rules: validation.ReadRules) -> validation.ReadArrays:
    cols: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        c, ctx = row["c"], row["context"]
        b = validation.usage_baselines(row["periods"], c.read.read_date, recent_periods=rules.recent_periods)
        base = ctx.previous_reading if ctx.previous_reading is not None else ctx.install_reading
        cols["reading"].append(_milli(c.reading))
        cols["read_on"].append(c.read.read_date)
        cols["base"].append(_milli(base))
        cols["base_on"].append(ctx.previous_read_on or ctx.install_on)
        cols["dial_digits"].append(ctx.dial_digits)
        cols["cycle_from"].append(ctx.cycle_from)
        cols["cycle_to"].append(ctx.cycle_to)
        cols["stated_previous"].append(_milli(c.stated))
        cols["has_stated_previous"].append(c.stated is not None)
        cols["replaced"].append(ctx.replacement is not None)
        cols["old_final"].append(_milli(ctx.replacement.old_final) if ctx.replacement else 0)
        cols["new_install"].append(_milli(ctx.replacement.new_install) if ctx.replacement else 0)
        cols["last_year_usage"].append(_milli(b.last_year_usage))
        cols["last_year_days"].append(b.last_year_days)
        cols["recent_usage"].append(_milli(b.recent_usage))
        cols["recent_days"].append(b.recent_days)
        cols["history_count"].append(b.history_count)
    day_fields = {"read_on", "base_on", "cycle_from", "cycle_to"}
    bool_fields = {"has_stated_previous", "replaced"}
    kwargs: dict[str, Any] = {}
    for name in validation.ReadArrays.__dataclass_fields__:
        values = cols[name]
        if name in day_fields:
            kwargs[name] = _days(values)
        elif name in bool_fields:
            kwargs[name] = np.array(values, dtype=np.bool_)
        else:
            kwargs[name] = np.array(values, dtype=np.int64)
    return validation.ReadArrays(**kwargs)


def require_reads_valid(result: RecordResult) -> None:
    """For callers that want all-or-nothing: raise with every refused row."""
    if result.rejected:
        raise DomainError(problems=[FieldProblem(f"{o.row or o.meter}.{p.field}", p.template, p.params)
                                    for o in result.rejected for p in o.problems])
