"""The legacy file reader without the database: encodings, headers, each kind of bad value, whole-file rules."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ucis.customers import exchange

TODAY = date(2026, 11, 23)
GOOD = {"客户编号": "C1", "户名": "张三", "证件号码": "11010519491231002X", "联系电话": "138 1234 5678", "户号": "A1",
        "营业单位": "TW-B-1", "开户日期": "2020-01-02", "地址编号": "P1", "地址编码": "D01", "房号": "502",
        "业务类别": "水", "表号": "wm-1", "表类型": "机械表"}


def csv_bytes(rows, encoding="utf-8", header=None):
    header = header or list(GOOD)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def parse(content, name="f.csv", **kw):
    return exchange.parse_file(content, name, today=TODAY, max_bytes=kw.pop("max_bytes", 10**6), **kw)


def problems(parsed):
    return [(p.row, p.column, p.reason) for p in parsed.problems]


def test_a_good_row_in_canonical_form():
    parsed = parse(csv_bytes([GOOD]))
    assert parsed.problems == [] and parsed.total_rows == 1
    row = parsed.rows[0]
    assert (row.row, row.phone, row.commodity, row.meter_serial, row.meter_type) == (
        2, "13812345678", "water", "WM-1", "mechanical")
    assert row.id_type == "resident_id" and row.installed_date == date(2020, 1, 2) and row.dial_digits == 5
    assert row.multiplier == Decimal("1.00") and row.customer_type == "resident" and row.grade == "C"


@pytest.mark.parametrize("encoding, detected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"),
                                                ("gb18030", "gb18030"), ("utf-16", "utf-16")])
def test_encodings_are_detected(encoding, detected):
    parsed = parse(csv_bytes([GOOD, {**GOOD, "户号": "A2", "表号": "WM-2", "业务类别": "燃气", "户名": "欧阳娜"}], encoding))
    assert parsed.encoding == detected
    assert [r.name for r in parsed.rows] == ["张三", "欧阳娜"]


def test_undecodable_bytes_are_a_file_problem():
    parsed = parse("户号,户名,表号\n".encode() + b"\x81\x20\xff\xff\n")
    assert parsed.rows == [] and parsed.problems[0].row == 0
    assert "neither UTF-8 nor GBK" in parsed.problems[0].reason


def test_english_headers_a_title_line_and_tab_separators():
    english = ["customer key", "Name", "ID number", "Phone", "Account key", "Unit", "Opened date", "Premise key",
               "Address code", "Room", "Commodity", "Meter serial", "Meter type"]
    text = "Registry export 2026-11-01\n" + "\t".join(english) + "\n" + "\t".join(GOOD.values()) + "\n"
    parsed = parse(text.encode())
    assert parsed.problems == [] and parsed.rows[0].row == 3
    assert parsed.headers["phone"] == "Phone"


def test_missing_required_column_and_no_header():
    header = [h for h in GOOD if h != "营业单位"]
    parsed = parse(csv_bytes([{k: v for k, v in GOOD.items() if k != "营业单位"}], header=header))
    assert parsed.rows == [] and "required column 营业单位 is missing" in parsed.problems[0].reason
    nothing = parse(b"a,b,c\n1,2,3\n")
    assert "no header row" in nothing.problems[0].reason


@pytest.mark.parametrize("column, value, reason", [
    ("证件号码", "110105194912310021", "check digit should be X, not 1"),
    ("证件号码", "11010519491331002X", "not a real date"),
    ("证件号码", "11010519491231", "an ID number has 18 characters"),
    ("联系电话", "12345", "is not a mobile number"),
    ("联系电话", "1281234567", "is not a mobile number"),
    ("开户日期", "2020-13-01", "is not a real date"),
    ("开户日期", "yesterday", "is not a date"),
    ("开户日期", "2030-01-01", "is in the future"),
    ("业务类别", "steam", "is not one of water / electricity / gas"),
    ("表类型", "magic", "is not one of mechanical / ic_prepaid / smart"),
    ("户名", "", "is required"),
    ("营业单位", "", "is required"),
    ("户名", "张\x00三", "control character"),
])
def test_each_bad_value_names_row_column_and_reason(column, value, reason):
    parsed = parse(csv_bytes([GOOD, {**GOOD, "户号": "A2", "表号": "WM-2", column: value}]))
    assert len(parsed.rows) == 1
    ((row, col, text),) = problems(parsed)
    assert (row, col) == (3, column) and reason in text


def test_numbers_and_meter_columns():
    header = [*GOOD, "建筑面积", "人口数", "表位数", "倍率", "装表读数", "IC卡号"]
    base = {**GOOD, "建筑面积": "", "人口数": "", "表位数": "", "倍率": "", "装表读数": "", "IC卡号": ""}
    rows = [{**base, "建筑面积": "89.555"}, {**base, "人口数": "0"}, {**base, "表位数": "12"},
            {**base, "倍率": "-1"}, {**base, "装表读数": "abc"}, {**base, "IC卡号": "K1"},
            {**base, "表号": "", "表类型": "", "IC卡号": "K2"}, {**base, "表类型": ""}]
    for i, row in enumerate(rows):
        row.update({"户号": f"A{i}", "表号": row["表号"] and f"WM{i}", "地址编号": f"P{i}"})
    got = {(p.row, p.column): p.reason for p in parse(csv_bytes(rows, header=header)).problems}
    assert "more than 2 decimals" in got[(2, "建筑面积")]
    assert "outside 1-99" in got[(3, "人口数")]
    assert "outside 3-10" in got[(4, "表位数")]
    assert "greater than 0" in got[(5, "倍率")]
    assert "not a number" in got[(6, "装表读数")]
    assert "IC-card prepaid meter" in got[(7, "IC卡号")]
    assert "meter serial is empty" in got[(8, "IC卡号")]
    assert "required with a meter serial" in got[(9, "表类型")]


def test_whole_file_rules():
    rows = [GOOD,
            {**GOOD, "户号": "A2", "地址编号": "P2", "房号": "503"},                    # same meter, other premise
            {**GOOD, "户号": "A3", "表号": "WM-3", "户名": "李四"},                       # customer C1 disagrees
            {**GOOD, "表号": "WM-4"},                                                    # account A1: water twice
            {**GOOD, "户号": "A5", "客户编号": "C5", "表号": "WM-5", "地址编号": "P5"},      # same ID, other key
            {**GOOD, "户号": "A6", "地址编号": "P1", "房号": "999", "表号": "WM-6"},        # premise P1 disagrees
            {**GOOD, "户号": "A7", "业务类别": "电", "表号": "WM-1"}]                      # same serial, same premise
    got = {(p.row, p.column): p.reason for p in parse(csv_bytes(rows)).problems}
    assert "a meter is on one premise at a time" in got[(3, "表号")]
    assert "says 张三 on row 2 but 李四 here" in got[(4, "户名")]
    assert "already has water on row 2" in got[(5, "业务类别")]
    assert "duplicate meter serial WM-1 (also on row 2)" in got[(8, "表号")]
    assert "already gets water through account A1" in got[(7, "地址编号")]
    assert "one person is one customer" in got[(6, "证件号码")]
    assert "says 502 on row 2 but 999 here" in got[(7, "房号")]


def test_size_limit_old_xls_and_damaged_xlsx():
    content = csv_bytes([GOOD] * 3)
    assert "at most 100 bytes" in parse(content, max_bytes=100).problems[0].reason
    assert ".xls" in parse(b"\xd0\xcf\x11\xe0" + b"\0" * 100, "old.xls").problems[0].reason
    book = exchange.write_xlsx([list(GOOD.values())], headers=list(GOOD))
    assert parse(book, "ok.xlsx").problems == []
    for cut in (len(book) // 3, len(book) - 30):
        damaged = parse(book[:cut], "cut.xlsx")
        assert damaged.rows == [] and "damaged or incomplete" in damaged.problems[0].reason
    assert "damaged" in parse(b"not a zip at all", "fake.xlsx").problems[0].reason
    # A zip whose sheet XML is corrupt
    buffer = io.BytesIO()
    with zipfile.ZipFile(book and io.BytesIO(book)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, data[: len(data) // 2] if item.filename.endswith("sheet1.xml") else data)
    assert "damaged" in parse(buffer.getvalue(), "corrupt.xlsx").problems[0].reason


def test_excel_cells_numbers_and_dates():
    from datetime import datetime

    assert exchange.cell_text(13812345678.0) == "13812345678"
    assert exchange.cell_text(89.5) == "89.5"
    assert exchange.cell_text(datetime(2020, 1, 2)) == "2020-01-02"
    assert exchange.parse_date(datetime(2020, 1, 2), today=TODAY) == date(2020, 1, 2)
    for text in ("2020-01-02", "2020/1/2", "20200102", "2020.01.02", "2020年1月2日", "2020-01-02 00:00:00"):
        assert exchange.parse_date(text, today=TODAY) == date(2020, 1, 2), text


NAMES = st.text(alphabet="张王李赵欧阳娜伟芳敏静丽", min_size=2, max_size=4)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(NAMES, st.integers(0, 99_999_999), st.sampled_from(["水", "电", "燃气"]),
                               st.decimals(min_value=0, max_value=99999, places=2),
                               st.sampled_from(["机械表", "IC卡表", "智能表"])), min_size=1, max_size=15),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk"]), excel=st.booleans())
def test_written_rows_read_back_identically(rows, encoding, excel):
    """Export cells of valid rows, as CSV in any accepted encoding or as .xlsx, parse to the same rows."""
    records = []
    for i, (name, phone, commodity, reading, mtype) in enumerate(rows):
        records.append({**GOOD, "户号": f"A{i}", "客户编号": f"C{i}", "证件号码": "", "户名": name,
                        "联系电话": f"139{phone:08d}", "业务类别": commodity, "表号": f"M{i}", "表类型": mtype,
                        "地址编号": f"P{i}", "装表读数": str(reading)})
    header = [*GOOD, "装表读数"]
    first = parse(csv_bytes(records, encoding, header=header))
    assert first.problems == []
    cells = [exchange.export_cells({f: getattr(r, f) for f in exchange.FIELDS}) for r in first.rows]
    if excel:
        again = parse(exchange.write_xlsx(cells), "again.xlsx")
    else:
        out = io.StringIO()
        csv.writer(out).writerows([exchange.EXPORT_HEADERS, *cells])
        again = parse(out.getvalue().encode(encoding if encoding != "gbk" else "gb18030"))
    assert again.problems == []
    strip = lambda r: {f: getattr(r, f) for f in exchange.FIELDS}  # noqa: E731
    assert [strip(r) for r in again.rows] == [strip(r) for r in first.rows]


def test_the_documented_column_table_matches_the_mapping():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "import-format.md").read_text(encoding="utf-8")
    for column in exchange.COLUMNS:
        assert f"| {column.headers[0]} | {', '.join(column.headers[1:])} | `{column.field}` |" in doc, column.field
