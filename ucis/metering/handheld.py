"""Handheld reading devices (抄表机, MTR-2 b): a route's cycle goes out as a file in walking order,
the reader fills in the readings, and the file comes back and is stored through
``meter_reads_record``. Format: docs/handheld-format.md.

Importing is idempotent: a row read before (same meter, day and reading) is a duplicate and writes
nothing, so a file imported twice — or resent after a half-failed transfer — stores each read once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.metering.models import ReadCycle, Route, RouteStop
from ucis.metering.reads import ReadInput, meter_reads_record

FORMAT = "ucis-handheld/1"

# (key, header in the CSV file). The import takes either the Chinese header or the key.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("route", "抄表本"),
    ("period", "账期"),
    ("sequence", "顺序号"),
    ("service_point", "用户点编号"),
    ("meter", "表号"),
    ("dial_digits", "表位数"),
    ("address", "地址"),
    ("customer", "户名"),
    ("account", "户号"),
    ("last_reading", "上次读数"),
    ("last_date", "上次抄表日期"),
    ("reading", "本次读数"),
    ("read_date", "抄表日期"),
    ("note", "备注"),
)
KEYS = tuple(k for k, _label in COLUMNS)
HEADER_KEYS = {label: key for key, label in COLUMNS} | {key: key for key in KEYS}
# Where the recorder's field names land in the file.
RECORDER_COLUMNS = {"meter": "meter", "reading": "reading", "read_date": "read_date",
                    "previous_reading": "last_reading"}


def _month(period: str) -> date:
    try:
        year, month = (int(x) for x in period.strip().split("-")[:2])
        return date(year, month, 1)
    except (ValueError, TypeError):
        raise DomainError("period", _("%(value)s is not a month (YYYY-MM)"), value=period) from None


# --- export -------------------------------------------------------------------------------------


def _cycle(actor: Any, route_code: str, month: date) -> tuple[Route, ReadCycle]:
    route = Route.objects.visible_to(actor).filter(code=route_code.strip()).first()
    if route is None:
        raise DomainError("route", _("there is no route %(code)s in your area"), code=route_code)
    cycle = ReadCycle.objects.filter(route=route, period=month).first()
    if cycle is None:
        raise DomainError("period", _("route %(code)s has no reading cycle for %(period)s; open the cycle first"),
                          code=route.code, period=f"{month:%Y-%m}")
    return route, cycle


def _last_reads(meter_ids: list[int]) -> dict[int, tuple[Any, date]]:
    """Each meter's latest live read: what the reader should see on the dial plus the usage."""
    if not meter_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT DISTINCT ON (meter_id) meter_id, reading, read_date FROM metering_meterread
                WHERE meter_id = ANY(%s) AND status IN ('pending', 'accepted')
                ORDER BY meter_id, read_date DESC, id DESC""", [meter_ids])
        return {m: (reading, on) for m, reading, on in cursor.fetchall()}


def cycle_sheet_rows(*, actor: Any, route_code: str, period: str) -> list[dict[str, Any]]:
    """The route's stops in walking order with what the reader needs at each, readings empty."""
    month = _month(period)
    route, cycle = _cycle(actor, route_code, month)
    stops = list(RouteStop.objects.filter(route=route).order_by("sequence").values_list("service_point_id",
                                                                                        "sequence"))
    ids = [sp for sp, _seq in stops]
    points = {p["id"]: p for p in customer_selectors.service_point_rows(actor=actor, service_point_ids=ids)} \
        if ids else {}
    payers = customer_selectors.service_point_payers(service_point_ids=ids, on=cycle.scheduled_date)
    installs: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for inst in customer_selectors.service_point_installations(service_point_ids=ids):
        installs[inst["service_point_id"]].append(inst)
    # The meter on the dial now: the latest installation not removed (or removed latest).
    current = {sp: next((i for i in reversed(items) if i["removed_date"] is None), None)
               for sp, items in installs.items()}
    last = _last_reads([i["meter_id"] for i in current.values() if i])
    rows = []
    for sp, sequence in stops:
        point = points.get(sp)
        if point is None:  # outside the actor's area
            continue
        inst = current.get(sp)
        payer = payers.get(sp, {})
        if inst is not None:
            last_reading, last_on = last.get(inst["meter_id"], (inst["install_reading"], inst["installed_date"]))
        else:
            last_reading, last_on = None, None
        rows.append({
            "route": route.code, "period": f"{month:%Y-%m}", "sequence": sequence, "service_point": sp,
            "meter": inst["meter__serial"] if inst else "", "dial_digits": inst["meter__dial_digits"] if inst else "",
            "address": point["premise__address"] or "", "customer": payer.get("account__customer__name") or "",
            "account": payer.get("account__account_no") or "",
            "last_reading": "" if last_reading is None else f"{Decimal(last_reading):.3f}",
            "last_date": last_on.isoformat() if last_on else "", "reading": "", "read_date": "", "note": ""})
    return rows


def cycle_sheet_export(*, actor: Any, route_code: str, period: str, file_format: str = "csv") -> bytes:
    """The handheld file: CSV in UTF-8 with a BOM (Excel and the devices read the Chinese
    correctly) or JSON."""
    return sheet_encode(cycle_sheet_rows(actor=actor, route_code=route_code, period=period),
                        route_code=route_code, period=period, file_format=file_format)


def sheet_encode(rows: list[dict[str, Any]], *, route_code: str, period: str, file_format: str) -> bytes:
    if file_format == "json":
        document = {"format": FORMAT, "route": route_code.strip(), "period": f"{_month(period):%Y-%m}",
                    "columns": list(KEYS), "rows": rows}
        return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
    if file_format != "csv":
        raise DomainError("format", _("unknown file format %(value)s (csv or json)"), value=file_format)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([label for _key, label in COLUMNS])
    for row in rows:
        writer.writerow([row[k] for k in KEYS])
    return out.getvalue().encode("utf-8-sig")


# --- import -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    row: int  # CSV: the line in the spreadsheet (the header is row 1); JSON: position in "rows" from 1
    column: str
    template: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.template % self.params if self.params else self.template


@dataclass
class HandheldImport:
    file_format: str = ""
    rows: int = 0
    blank: int = 0  # rows without a reading: not read this time
    stored: int = 0
    duplicates: int = 0
    pending: int = 0  # stored but waiting in the review queue
    problems: list[RowProblem] = field(default_factory=list)
    written: bool = False
    batch_ref: str = ""


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheet programs on Chinese Windows save CSV as GBK.
        try:
            return content.decode("gb18030")
        except UnicodeDecodeError:
            raise DomainError("file", _("the file is neither UTF-8 nor GBK text")) from None


def sheet_parse(content: bytes) -> tuple[str, list[tuple[int, dict[str, str]]]]:
    """The rows of a handheld file (CSV or JSON, told apart by the first character), each with
    its row number, as text keyed by column key."""
    text = _decode(content)
    if text.lstrip()[:1] in ("{", "["):
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise DomainError("file", _("the file is not valid JSON: %(error)s"), error=str(exc)) from None
        items = document.get("rows") if isinstance(document, dict) else document
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise DomainError("file", _("a JSON handheld file has a list of row objects under \"rows\""))
        return "json", [(n, {k: "" if v is None else str(v).strip() for k, v in item.items()})
                        for n, item in enumerate(items, start=1)]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise DomainError("file", _("the file is empty"))
    keys = [HEADER_KEYS.get(h.strip()) for h in header]
    missing = [HEADER_KEYS[k] for k in ("meter", "reading") if HEADER_KEYS[k] not in keys]
    if missing:
        raise DomainError("file", _("the file has no %(columns)s column"), columns=", ".join(missing))
    rows = []
    for n, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        rows.append((n, {k: v.strip() for k, v in zip(keys, values, strict=False) if k}))
    return "csv", rows


def _cycle_dates(rows: list[tuple[int, dict[str, str]]], actor: Any) -> dict[tuple[str, str], date]:
    """The scheduled date of each (route, period) the file names: the read date of a row left empty."""
    wanted = {(r.get("route", ""), r.get("period", "")) for _n, r in rows if r.get("route") and r.get("period")}
    dates = {}
    for code, period in wanted:
        try:
            month = _month(period)
        except DomainError:
            continue
        cycle = ReadCycle.objects.visible_to(actor).filter(route__code=code, period=month).first()
        if cycle is not None:
            dates[(code, period)] = cycle.scheduled_date
    return dates


def sheet_import(*, actor: Any, content: bytes, today: date, all_or_nothing: bool = False,
                 dry_run: bool = False) -> HandheldImport:
    """Store the readings of a returned handheld file; every bad row is reported with its row,
    column and reason. ``all_or_nothing``: store nothing unless every row is clean. ``dry_run``:
    check everything, store nothing."""
    file_format, rows = sheet_parse(content)
    report = HandheldImport(file_format=file_format, rows=len(rows))
    scheduled = _cycle_dates(rows, actor)
    reads: list[ReadInput] = []
    for n, row in rows:
        reading = row.get("reading", "")
        if not reading:
            report.blank += 1
            continue
        meter = row.get("meter", "")
        if not meter:
            report.problems.append(RowProblem(n, "meter", _("the row has a reading but no meter")))
            continue
        on_text = row.get("read_date", "")
        if on_text:
            try:
                on = date.fromisoformat(on_text.replace("/", "-"))
            except ValueError:
                report.problems.append(RowProblem(n, "read_date", _("%(value)s is not a date (YYYY-MM-DD)"),
                                                  {"value": on_text}))
                continue
        else:
            # The cycle's scheduled date, not "today": importing the file again must give the same read.
            default = scheduled.get((row.get("route", ""), row.get("period", "")))
            if default is None:
                report.problems.append(RowProblem(n, "read_date", _(
                    "give the read date: the row names no open reading cycle to take it from")))
                continue
            on = default
        reads.append(ReadInput(meter=meter, read_date=on, reading=reading,
                               stated_previous=row.get("last_reading") or None, note=row.get("note", ""),
                               row=str(n)))
    report.batch_ref = _batch_ref(rows, content)
    with transaction.atomic():
        result = meter_reads_record(actor=actor, reads=reads, source="handheld", today=today,
                                    batch_ref=report.batch_ref, reason="handheld file import") if reads else None
        if result is not None:
            report.stored, report.duplicates, report.pending = result.stored, result.duplicates, result.pending
            for outcome in result.rejected:
                for p in outcome.problems:
                    report.problems.append(RowProblem(int(outcome.row), RECORDER_COLUMNS.get(p.field, p.field),
                                                      p.template, dict(p.params)))
        report.problems.sort(key=lambda p: p.row)
        if dry_run or (all_or_nothing and report.problems):
            transaction.set_rollback(True)
        else:
            report.written = True
    if not report.written and not dry_run:  # rolled back because of the problems
        report.stored = report.pending = 0
    return report


def _batch_ref(rows: Sequence[tuple[int, dict[str, str]]], content: bytes) -> str:
    """handheld:<route>:<period>:<file digest>: the reads of one returned file, findable together."""
    first = rows[0][1] if rows else {}
    digest = hashlib.sha256(content).hexdigest()[:10]
    return f"handheld:{first.get('route', '')[:32]}:{first.get('period', '')[:7]}:{digest}"[:64]
