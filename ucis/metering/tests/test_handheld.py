"""Handheld files: a route's cycle goes out in walking order and comes back with readings; every
bad row is reported with row, column and reason; importing a file again stores nothing."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command

from ucis.metering import handheld, services
from ucis.metering.models import MeterRead
from ucis.metering.reads import ReadInput, meter_reads_record
from ucis.platform.tenancy import SYSTEM

from .conftest import TODAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def cycle(site):
    services.read_cycle_open(actor=SYSTEM, company_id=site.org.water.pk, period="2026-11")
    return site


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # BOM: Excel on Chinese Windows reads it as UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def filled(content: bytes, readings: dict[int, tuple[str, str]]) -> bytes:
    """The file as the device returns it: (reading, read date) typed into data rows by index."""
    rows = csv_rows(content)
    for n, (reading, on) in readings.items():
        rows[n + 1][11], rows[n + 1][12] = reading, on
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def test_export_lists_the_stops_in_walking_order_with_what_the_reader_needs(cycle):
    site = cycle
    meter_reads_record(actor=SYSTEM, reads=[ReadInput("WM00001", date(2026, 10, 10), "31.5")], source="hand",
                       today=TODAY)
    services.route_reorder(actor=SYSTEM, route_id=site.route.pk, reason="new walk",
                           service_point_ids=[site.points[2].pk, site.points[0].pk, site.points[1].pk])
    rows = csv_rows(handheld.cycle_sheet_export(actor=site.reader, route_code="R-B-001", period="2026-11"))
    assert rows[0] == ["抄表本", "账期", "顺序号", "用户点编号", "表号", "表位数", "地址", "户名", "户号", "上次读数",
                       "上次抄表日期", "本次读数", "抄表日期", "备注"]
    assert [r[4] for r in rows[1:]] == ["WM00002", "WM00000", "WM00001"]
    first = dict(zip(handheld.KEYS, rows[1], strict=True))
    assert first["route"] == "R-B-001" and first["period"] == "2026-11" and first["dial_digits"] == "5"
    assert first["service_point"] == str(site.points[2].pk) and first["customer"] == "住户2"
    assert first["account"] == site.accounts[2].account_no and "幸福小区" in first["address"]
    assert (first["last_reading"], first["last_date"]) == ("0.000", "2025-01-05")  # the install reading
    assert (rows[3][9], rows[3][10]) == ("31.500", "2026-10-10")  # WM00001's last read
    assert all(r[11] == "" and r[12] == "" for r in rows[1:])


def test_export_as_json_carries_the_same_rows(cycle):
    content = handheld.cycle_sheet_export(actor=SYSTEM, route_code="R-B-001", period="2026-11", file_format="json")
    document = json.loads(content)
    assert document["format"] == "ucis-handheld/1" and document["period"] == "2026-11"
    assert [r["meter"] for r in document["rows"]] == ["WM00000", "WM00001", "WM00002"]


def test_export_needs_a_visible_route_with_an_open_cycle(cycle, org):
    with pytest.raises(handheld.DomainError, match="there is no route R-B-001 in your area"):
        handheld.cycle_sheet_export(actor=org.admin_a, route_code="R-B-001", period="2026-11")
    with pytest.raises(handheld.DomainError, match="has no reading cycle for 2026-12"):
        handheld.cycle_sheet_export(actor=SYSTEM, route_code="R-B-001", period="2026-12")


def test_round_trip_stores_the_reads_once(cycle):
    site = cycle
    sheet = handheld.cycle_sheet_export(actor=site.reader, route_code="R-B-001", period="2026-11")
    back = filled(sheet, {0: ("12.5", "2026-11-09"), 1: ("40", "")})  # the third stop was not read
    report = handheld.sheet_import(actor=site.reader, content=back, today=TODAY)
    assert (report.rows, report.blank, report.stored, report.duplicates, report.problems) == (3, 1, 2, 0, [])
    reads = {r.meter.serial: r for r in MeterRead.objects.select_related("meter", "cycle")}
    assert reads["WM00000"].source == "handheld" and reads["WM00000"].reading == Decimal("12.5")
    assert reads["WM00000"].created_by_id == site.reader.pk and reads["WM00000"].batch_ref == report.batch_ref
    assert report.batch_ref.startswith("handheld:R-B-001:2026-11:")
    # An empty read date is the cycle's scheduled date (the 10th), so the read is in the cycle.
    assert reads["WM00001"].read_date == date(2026, 11, 10) and reads["WM00001"].cycle.period == date(2026, 11, 1)

    again = handheld.sheet_import(actor=site.reader, content=back, today=date(2026, 11, 30))
    assert (again.stored, again.duplicates, again.problems) == (0, 2, [])
    assert MeterRead.objects.count() == 2


def test_json_file_round_trip(cycle):
    document = json.loads(handheld.cycle_sheet_export(actor=SYSTEM, route_code="R-B-001", period="2026-11",
                                                      file_format="json"))
    document["rows"][2].update(reading="7.25", read_date="2026-11-11")
    report = handheld.sheet_import(actor=SYSTEM, content=json.dumps(document, ensure_ascii=False).encode(),
                                   today=TODAY)
    assert report.file_format == "json" and report.stored == 1 and report.blank == 2
    assert MeterRead.objects.get().reading == Decimal("7.25")


def bad_file(site) -> bytes:
    sheet = handheld.cycle_sheet_export(actor=SYSTEM, route_code="R-B-001", period="2026-11")
    rows = csv_rows(sheet)
    rows.append(["R-B-001", "2026-11", "40", "", "NOPE", "5", "", "", "", "", "", "3", "2026-11-10", ""])
    rows.append(["R-B-001", "2026-11", "50", "", "WM00000", "5", "", "", "", "", "", "9", "11/10/2026", ""])
    rows[1][11:13] = ["12a", "2026-11-10"]
    rows[2][11:13] = ["123456", "2026-11-10"]
    rows[3][11:13] = ["8", "2026-12-01"]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def test_bad_rows_are_reported_with_row_column_and_reason(cycle):
    report = handheld.sheet_import(actor=SYSTEM, content=bad_file(cycle), today=TODAY)
    assert [(p.row, p.column, p.reason) for p in report.problems] == [
        (2, "reading", "12a is not a number"),
        (3, "reading", "the reading 123456 does not fit a 5-digit dial"),
        (4, "read_date", "the read date 2026-12-01 is in the future"),
        (5, "meter", "there is no meter NOPE in your area"),
        (6, "read_date", "11/10/2026 is not a date (YYYY-MM-DD)"),
    ]
    assert report.stored == 0 and MeterRead.objects.count() == 0


def test_all_or_nothing_stores_nothing_when_a_row_is_bad(cycle):
    site = cycle
    sheet = handheld.cycle_sheet_export(actor=SYSTEM, route_code="R-B-001", period="2026-11")
    back = filled(sheet, {0: ("12.5", "2026-11-09"), 1: ("abc", "2026-11-09")})
    strict = handheld.sheet_import(actor=site.reader, content=back, today=TODAY, all_or_nothing=True)
    assert not strict.written and strict.stored == 0 and [p.row for p in strict.problems] == [3]
    assert MeterRead.objects.count() == 0
    lenient = handheld.sheet_import(actor=site.reader, content=back, today=TODAY)
    assert lenient.written and lenient.stored == 1 and MeterRead.objects.count() == 1


def test_a_gbk_csv_with_english_headers_is_read(cycle):
    content = ("meter,reading,read_date,note\r\nWM00002,15,2026-11-10,门口有狗\r\n").encode("gbk")
    report = handheld.sheet_import(actor=SYSTEM, content=content, today=TODAY)
    assert report.stored == 1 and MeterRead.objects.get().note == "门口有狗"


def test_commands_export_and_import(cycle, tmp_path, capsys):
    path = tmp_path / "R-B-001.csv"
    call_command("handheld_export", "R-B-001", str(path), period="2026-11")
    path.write_bytes(filled(path.read_bytes(), {0: ("12.5", "2026-11-09")}))
    call_command("handheld_import", str(path), "--dry-run", "--as", "reader.b")
    assert "stored=1" in capsys.readouterr().out and MeterRead.objects.count() == 0
    call_command("handheld_import", str(path), "--as", "reader.b")
    assert MeterRead.objects.get().created_by.username == "reader.b"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(bad_file(cycle))
    with pytest.raises(SystemExit):
        call_command("handheld_import", str(bad))
    assert "row 2\treading\t12a is not a number" in capsys.readouterr().out
