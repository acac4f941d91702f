"""Bank batch files: GBK and UTF-8 read alike; every bad file reports line, field and reason;
the debit request round-trips; the reconciliation report sorts every line into its section."""

from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ucis.kernel.errors import DomainError
from ucis.payments import bankfile as bf

HEADER = bf.BankHeader("ICBC", "4403001", date(2026, 11, 23), "0001", bf.COLLECT)
ROWS = [
    bf.BankRow("B20261122000001", "100000001", "张三", D("12.30"), date(2026, 11, 22)),
    bf.BankRow("B20261122000002", "100000002", "欧阳娜娜", D("100.00"), date(2026, 11, 22)),
    bf.BankRow("B20261122000003", "100000003", "李秀英", D("0.05"), date(2026, 11, 22)),
]
GOOD = (
    "H|ICBC|4403001|20261123|0001|COLLECT\r\n"
    "D|1|B20261122000001|100000001|张三|12.30|20261122||\r\n"
    "D|2|B20261122000002|100000002|欧阳娜娜|100.00|20261122||\r\n"
    "D|3|B20261122000003|100000003|李秀英|0.05|20261122||\r\n"
    "T|3|112.35\r\n"
)


def test_the_writer_writes_the_documented_format():
    assert bf.write_bank_file(header=HEADER, rows=ROWS, encoding="utf-8") == GOOD.encode("utf-8")
    assert bf.write_bank_file(header=HEADER, rows=ROWS) == GOOD.encode("gbk")


@pytest.mark.parametrize("data", [GOOD.encode("gbk"), GOOD.encode("utf-8"), bf.BOM + GOOD.encode("utf-8"),
                                  GOOD.replace("\r\n", "\n").encode("gbk")],
                         ids=["gbk", "utf-8", "utf-8 with BOM", "gbk with LF"])
def test_gbk_and_utf8_files_with_chinese_names_parse_identically(data):
    parsed = bf.parse_collection_file(data)
    assert parsed.ok, parsed.problems
    assert parsed.header == HEADER
    assert [line.customer_name for line in parsed.lines] == ["张三", "欧阳娜娜", "李秀英"]
    assert [(line.line_no, line.ref, line.amount, line.on) for line in parsed.lines] == [
        (1, "B20261122000001", D("12.30"), date(2026, 11, 22)), (2, "B20261122000002", D("100.00"),
                                                                  date(2026, 11, 22)),
        (3, "B20261122000003", D("0.05"), date(2026, 11, 22))]
    assert parsed.total == bf.BankTotal(3, D("112.35")) and parsed.amount == D("112.35")
    assert all(line.paid for line in parsed.lines)
    assert parsed.encoding == ("gbk" if b"\xd5\xc5" in data else "utf-8")


def test_a_name_outside_gbk_survives_in_a_gb18030_file():
    data = GOOD.replace("张三", "王䶮").encode("gb18030")
    parsed = bf.parse_collection_file(data)
    assert parsed.ok and parsed.lines[0].customer_name == "王䶮" and parsed.encoding == "gbk"


def problems(text: str | bytes):
    data = text.encode("gbk") if isinstance(text, str) else text
    return [(p.line, p.field, p.reason) for p in bf.parse_collection_file(data).problems]


BAD_FILES = [
    ("wrong total count", GOOD.replace("T|3|", "T|4|"), (5, "count", "the total line counts 4 lines, the file has 3")),
    ("wrong total sum", GOOD.replace("T|3|112.35", "T|3|112.36"),
     (5, "sum", "the total line sums 112.36, the lines add up to 112.35")),
    ("duplicate bank reference", GOOD.replace("B20261122000003", "B20261122000001"),
     (4, "ref", "the reference B20261122000001 repeats line 2")),
    ("duplicate line number", GOOD.replace("D|3|", "D|2|"), (4, "line_no", "line number 2 repeats line 3")),
    ("negative amount", GOOD.replace("|0.05|", "|-0.05|"), (4, "amount", "the amount -0.05 is negative")),
    ("zero amount", GOOD.replace("|0.05|", "|0.00|"), (4, "amount", "the amount is zero")),
    ("three decimals", GOOD.replace("|0.05|", "|0.055|"), (4, "amount", "the amount 0.055 has more than two decimals")),
    ("one decimal", GOOD.replace("|12.30|", "|12.3|"), (2, "amount", "the amount 12.3 must have exactly two decimals")),
    ("not a number", GOOD.replace("|12.30|", "|十二元|"), (2, "amount", "the amount 十二元 is not a number")),
    ("bad date", GOOD.replace("|100.00|20261122|", "|100.00|20261131|"),
     (3, "date", "the date 20261131 is not a date written YYYYMMDD")),
    ("bad file date", GOOD.replace("|20261123|", "|2026-11-23|"),
     (1, "file_date", "the date 2026-11-23 is not a date written YYYYMMDD")),
    ("too few fields", GOOD.replace("|李秀英|0.05|20261122||", "|李秀英|0.05"),
     (4, "line", "a D line has 9 fields separated by |, this one has 6")),
    ("too many fields", GOOD.replace("|张三|", "|张|三|"),
     (2, "line", "a D line has 9 fields separated by |, this one has 10")),
    ("missing total line", GOOD.replace("T|3|112.35\r\n", ""),
     (5, "total", "the total line T|count|sum is missing: the file looks truncated")),
    ("truncated last line", GOOD[:GOOD.index("T|3")] + "T|3|11",
     (5, "line", "the last line has no line end: the file looks truncated")),
    ("truncated in a detail line", GOOD[:GOOD.index("D|3|") + 12],
     (4, "line", "the last line has no line end: the file looks truncated")),
    ("no header", GOOD[GOOD.index("D|1"):], (1, "header", "the file must start with a header line H|…")),
    ("unknown record", GOOD.replace("D|2|", "X|2|"), (3, "record_type", "a line starts with H, D or T, not X")),
    ("line after total", GOOD + "D|4|B9|1|王五|1.00|20261122||\r\n", (6, "line", "a line after the total line (line 5)")),
    ("empty line inside", GOOD.replace("\r\nD|2|", "\r\n\r\nD|2|"), (3, "line", "an empty line")),
    ("result code in a collection file", GOOD.replace("|20261122||\r\nD|2", "|20261122||0000\r\nD|2"),
     (2, "result_code", "only a debit-return file has result codes")),
    ("a debit request given as a collection file", GOOD.replace("|COLLECT", "|DEBIT_REQ"),
     (1, "kind", "the file kind DEBIT_REQ is not one of COLLECT, DEBIT_RET")),
    ("empty name", GOOD.replace("|张三|", "||"), (2, "customer_name", "the customer name is empty")),
    ("undecodable bytes", GOOD.encode("gbk").replace("张三".encode("gbk"), b"\xff\xfe"),
     (2, "encoding", "bytes that are neither GBK nor UTF-8 at column 31")),
    ("mixed encodings", GOOD.encode("gbk").replace("李秀英".encode("gbk"), "李秀英".encode()),
     (4, "encoding", "this line is UTF-8 but the file is GBK: mixed encodings, the names would be garbled")),
]


@pytest.mark.parametrize(("data", "expected"), [(d, e) for _, d, e in BAD_FILES], ids=[n for n, _, _ in BAD_FILES])
def test_each_bad_file_reports_line_field_and_reason(data, expected):
    found = problems(data)
    assert expected in found, found


def test_a_line_with_a_problem_is_left_out_and_the_file_is_not_ok():
    parsed = bf.parse_collection_file(GOOD.replace("|0.05|", "|-0.05|").encode("gbk"))
    assert not parsed.ok and [line.line_no for line in parsed.lines] == [1, 2]


def test_every_problem_on_a_line_is_reported_not_just_the_first():
    found = problems(GOOD.replace("D|2|B20261122000002|100000002|欧阳娜娜|100.00|20261122||",
                                  "D|x|B 2|100000002|欧阳娜娜|1.001|2026|0000|"))
    assert {f for line, f, _ in found if line == 3} >= {"line_no", "ref", "amount", "date"}


def test_an_empty_file_is_a_problem():
    assert problems(b"") == [(0, "file", "the file is empty")]


DEBIT_HEADER = bf.BankHeader("105", "44030019", date(2026, 11, 24), "20261124A", bf.DEBIT_REQUEST)
DEBIT_ROWS = [
    bf.BankRow("DR0001", "100000001", "张三", D("35.60"), date(2026, 11, 25), bank_account="6222021234567890123"),
    bf.BankRow("DR0002", "100000002", "司马相如", D("1200.00"), date(2026, 11, 25),
               bank_account="6217001234567890"),
]


def test_the_debit_request_round_trips():
    data = bf.write_debit_request(header=DEBIT_HEADER, rows=DEBIT_ROWS)
    data.decode("gbk")  # written in GBK
    parsed = bf.parse_debit_request(data)
    assert parsed.ok, parsed.problems
    assert parsed.header == DEBIT_HEADER
    assert [bf.BankRow(ln.ref, ln.account_no, ln.customer_name, ln.amount, ln.on, ln.bank_account)
            for ln in parsed.lines] == DEBIT_ROWS
    assert parsed.total == bf.BankTotal(2, D("1235.60"))
    assert bf.parse_collection_file(data).problems[0].field == "kind"  # a request is not a bank answer


NAME = st.text(alphabet=st.sampled_from("张王李赵刘陈杨黄周吴徐孙马朱胡郭何林欧阳司娜秀英华明丽"), min_size=1, max_size=6)
ROW = st.builds(bf.BankRow, ref=st.from_regex(r"[A-Z0-9]{4,20}", fullmatch=True),
                account_no=st.from_regex(r"[0-9]{6,12}", fullmatch=True), customer_name=NAME,
                amount=st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2),
                on=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
                bank_account=st.from_regex(r"62[0-9]{14,17}", fullmatch=True))


@given(st.lists(ROW, max_size=20, unique_by=lambda r: r.ref))
def test_any_debit_request_round_trips(rows):
    parsed = bf.parse_debit_request(bf.write_debit_request(header=DEBIT_HEADER, rows=rows))
    assert parsed.ok, parsed.problems
    assert [(ln.ref, ln.customer_name, ln.amount, ln.on, ln.bank_account) for ln in parsed.lines] == \
        [(r.ref, r.customer_name, r.amount, r.on, r.bank_account) for r in rows]
    assert parsed.total == bf.BankTotal(len(rows), sum((r.amount for r in rows), D("0.00")))


def test_the_writer_refuses_what_it_cannot_write_faithfully():
    bad = [bf.BankRow("DR1", "1", "王䶮", D("1.00"), date(2026, 1, 1), bank_account="6222"),  # not in GBK
           bf.BankRow("DR1", "2", "a|b", D("1.001"), date(2026, 1, 1), bank_account="6222"),
           bf.BankRow("DR3", "3", "赵六", D("-1.00"), date(2026, 1, 1), bank_account=""),
           bf.BankRow("DR4", "4", "钱七", 1.5, date(2026, 1, 1), bank_account="6222")]  # type: ignore[arg-type]
    with pytest.raises(DomainError) as caught:
        bf.write_debit_request(header=DEBIT_HEADER, rows=bad)
    fields = {p.field for p in caught.value.problems}
    assert fields == {"rows[0].customer_name", "rows[1].ref", "rows[1].customer_name", "rows[1].amount",
                      "rows[2].amount", "rows[2].bank_account", "rows[3].amount"}
    with pytest.raises(DomainError):
        bf.write_debit_request(header=HEADER, rows=DEBIT_ROWS)  # a COLLECT header


def debit_return():
    header = bf.BankHeader("105", "44030019", date(2026, 11, 25), "20261124A", bf.DEBIT_RETURN)
    rows = [bf.BankRow("DR0001", "100000001", "张三", D("35.60"), date(2026, 11, 25), "6222021234567890123", "0000"),
            bf.BankRow("DR0002", "100000002", "司马相如", D("1200.00"), date(2026, 11, 25), "6217001234567890",
                       "3001")]
    return bf.parse_collection_file(bf.write_bank_file(header=header, rows=rows))


def test_a_debit_return_file_carries_a_result_per_line():
    parsed = debit_return()
    assert parsed.ok, parsed.problems
    assert [(line.ref, line.result_code, line.paid) for line in parsed.lines] == [
        ("DR0001", "0000", True), ("DR0002", "3001", False)]
    assert ("5", "result_code") not in [(str(p.line), p.field) for p in parsed.problems]
    bad = bf.write_bank_file(header=parsed.header, rows=[
        bf.BankRow("DR9", "1", "张三", D("1.00"), date(2026, 11, 25), "6222", "0000")]).replace(b"|0000\r", b"|OK\r")
    assert (2, "result_code", "the result code OK is not 4 digits") in problems(bad)


def test_reconcile_sorts_every_line_into_its_section_with_totals():
    bank = bf.parse_collection_file(GOOD.encode("gbk") .replace(b"T|3|112.35", b"T|4|113.35")
                                    .replace(b"T|", "D|4|B4|100000004|王五|1.00|20261122||\r\nT|".encode("gbk"), 1))
    assert bank.ok, bank.problems
    ours = [bf.OurRecord("B20261122000001", "100000001", D("12.30")),  # matched
            bf.OurRecord("B20261122000002", "100000002", D("10.00")),  # amount differs
            bf.OurRecord("B20261122000003", "100000009", D("0.05")),  # posted to another account
            bf.OurRecord("B5", "100000005", D("7.00"))]  # the bank does not list it; B4 we never posted
    report = bf.reconcile(bank.lines, ours)
    assert [i.ref for i in report.matched] == ["B20261122000001"]
    assert [(i.ref, i.bank_amount) for i in report.bank_only] == [("B4", D("1.00"))]
    assert [(i.ref, i.our_amount) for i in report.ours_only] == [("B5", D("7.00"))]
    assert [(i.ref, i.difference, i.explanation) for i in report.amount_mismatches] == [
        ("B20261122000002", D("90.00"), "the bank has 100.00, we posted 10.00")]
    assert [i.explanation for i in report.account_mismatches] == [
        "the bank credited account 100000003, we posted to 100000009"]
    assert not report.clean and len(report.exceptions) == 4
    assert report.bank_total == D("113.35") and report.our_total == D("29.35")
    assert report.difference == D("84.00")
    assert report.totals()["matched"] == (1, D("12.30"))
    assert report.totals()["amount_mismatches"] == (1, D("90.00"))


def test_reconcile_of_a_debit_return_keeps_failed_debits_apart():
    parsed = debit_return()
    clean = bf.reconcile(parsed.lines, [bf.OurRecord("DR0001", "100000001", D("35.60"))])
    assert clean.clean and [i.ref for i in clean.failed] == ["DR0002"]
    assert clean.failed[0].explanation == "the bank could not debit: 3001 insufficient funds"
    posted_a_failed = bf.reconcile(parsed.lines, [bf.OurRecord("DR0001", "100000001", D("35.60")),
                                                  bf.OurRecord("DR0002", "100000002", D("1200.00"))])
    assert [i.explanation for i in posted_a_failed.ours_only] == [
        "we posted it but the bank reports the debit failed (3001)"]


def test_reconcile_reports_a_reference_we_posted_twice():
    report = bf.reconcile([], [bf.OurRecord("R1", "1", D("1.00")), bf.OurRecord("R1", "1", D("1.00"))])
    assert sorted(i.explanation for i in report.ours_only) == [
        "posted twice under the same bank reference", "we posted it but the bank does not list it"]


GB2312 = [bytes([a, b]).decode("gbk") for a in range(0xB0, 0xF8) for b in range(0xA1, 0xFF)
          if not (a == 0xD7 and b > 0xF9)]


def one_line_file(name: str) -> str:
    return f"H|ICBC|1|20261123|1|COLLECT\r\nD|1|R1|1|{name}|1.00|20261122||\r\nT|1|1.00\r\n"


def test_every_gb2312_character_as_a_one_character_name_reads_right_in_gbk_and_utf8():
    assert len(GB2312) == 6763
    for ch in GB2312:
        for encoding in ("gbk", "utf-8"):
            parsed = bf.parse_collection_file(one_line_file(ch).encode(encoding))
            assert parsed.encoding == encoding and parsed.lines[0].customer_name == ch, (ch, encoding)


@given(st.lists(st.text(alphabet=st.sampled_from(GB2312), min_size=1, max_size=4), min_size=1, max_size=3))
def test_random_names_read_the_same_from_gbk_and_utf8(names):
    text = "H|ICBC|1|20261123|1|COLLECT\r\n" + "".join(
        f"D|{i}|R{i}|{i}|{name}|1.00|20261122||\r\n" for i, name in enumerate(names, start=1)) + \
        f"T|{len(names)}|{len(names)}.00\r\n"
    gbk, utf8 = bf.parse_collection_file(text.encode("gbk")), bf.parse_collection_file(text.encode("utf-8"))
    assert gbk.ok and utf8.ok
    assert [ln.customer_name for ln in gbk.lines] == [ln.customer_name for ln in utf8.lines] == names


def test_a_known_encoding_is_not_guessed():
    utf8 = one_line_file("张三").encode("utf-8")
    assert bf.parse_collection_file(utf8, encoding="utf-8").lines[0].customer_name == "张三"
    assert bf.parse_collection_file(one_line_file("张三").encode("gbk"), encoding="gbk").encoding == "gbk"
    assert bf.parse_collection_file(utf8, encoding="gbk").problems[0].field == "encoding"  # UTF-8 in a GBK file
    assert bf.parse_collection_file(bf.BOM + utf8, encoding="gbk").encoding == "utf-8"  # a BOM is a BOM
