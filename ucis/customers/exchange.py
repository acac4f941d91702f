"""Legacy registry files (CUS-5): read CSV / Excel, map the columns, check every row.

Pure: bytes in, clean rows and problems out; no Django, no database, no clock (callers pass
``today``). The services add the checks that need the database (address codes, units, serials and
keys already registered) and write the clean rows.

One row = one account with one meter, the shape legacy billing systems (including stand-alone and
IC-card systems) export: customer, account, premise and meter side by side; a customer, premise or
account that has several meters repeats on several rows, which must then agree.

* Encoding: a UTF-8 BOM or valid UTF-8 is UTF-8; anything else is read as GB18030 (a superset of
  GBK and GB2312, what Chinese Windows and older systems write). A UTF-16 BOM (Excel's "Unicode
  text") is honoured too.
* Headers: Chinese or English, from ``COLUMNS`` (documented in docs/import-format.md). The header
  row is the first of the file's first ten rows that names at least three known columns, so a
  title line above it is allowed.
* Row numbers are the file's own (header = row 1 when it is the first row); a problem names the
  column as the file writes its header.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ucis.customers import identity
from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _

# --------------------------------------------------------------------------------------------------
# The column mapping (data): field, headers accepted (the first is the one exports write), required
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    field: str
    headers: tuple[str, ...]
    required: bool = False
    description: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("customer_key", ("客户编号", "客户号", "用户编号", "customer key", "customer_key"), True,
           "the legacy system's customer key, or a ucis customer number"),
    Column("name", ("户名", "客户名称", "用户名称", "姓名", "name", "customer name"), True, "customer name"),
    Column("customer_type", ("客户类型", "用户类型", "customer type", "customer_type"), False,
           "resident / non_resident / special / industrial / public (default resident)"),
    Column("id_type", ("证件类型", "id type", "id_type"), False,
           "resident_id / uscc / passport / other (default resident_id when an ID number is given)"),
    Column("id_number", ("证件号码", "身份证号", "身份证号码", "id number", "id_number"), False,
           "18-character resident ID (check digit verified) or other document number"),
    Column("phone", ("联系电话", "手机号码", "手机号", "电话", "phone"), False,
           "mobile, landline with area code, or service number"),
    Column("email", ("电子邮箱", "邮箱", "email"), False, ""),
    Column("grade", ("客户等级", "等级", "grade"), False, "A-D (default C)"),
    Column("account_key", ("户号", "账户编号", "账号", "account key", "account_key"), True,
           "the legacy system's account key, or a ucis account number"),
    Column("unit", ("营业单位", "所属单位", "单位编码", "unit", "unit code"), True,
           "code of the serving unit (organisation node) — within your part of the organisation"),
    Column("payment_method", ("缴费方式", "付费方式", "payment method", "payment_method"), False,
           "counter / bank_debit / wechat / alipay / prepaid (default counter)"),
    Column("bill_delivery", ("账单投递方式", "账单投递", "bill delivery", "bill_delivery"), False,
           "paper / sms / wechat / email (default sms)"),
    Column("opened_date", ("开户日期", "opened", "opened date", "opened_date"), True, "date"),
    Column("premise_key", ("地址编号", "房屋编号", "用户地址编号", "premise key", "premise_key"), True,
           "the legacy system's premise key, or a ucis premise number"),
    Column("address_code", ("地址编码", "address code", "address_code"), True,
           "code of an address area already in the address book (unit or building)"),
    Column("room", ("房号", "门牌号", "室号", "room"), False, ""),
    Column("floor_area", ("建筑面积", "面积", "floor area", "floor_area"), False, "m², up to 2 decimals"),
    Column("residents", ("人口数", "常住人口", "居住人数", "residents"), False, "whole number"),
    Column("commodity", ("业务类别", "用能类别", "品种", "commodity"), True, "water / electricity / gas"),
    Column("meter_serial", ("表号", "表计编号", "表身号", "meter serial", "meter_serial", "serial"), False,
           "empty = an account without a meter on this row"),
    Column("meter_type", ("表类型", "表计类型", "meter type", "meter_type"), False,
           "mechanical / ic_prepaid / smart (required with a serial)"),
    Column("dial_digits", ("表位数", "字轮位数", "dial digits", "dial_digits"), False, "3-10 (default 5)"),
    Column("multiplier", ("倍率", "multiplier"), False, "> 0 (default 1)"),
    Column("manufacturer", ("生产厂家", "厂家", "manufacturer"), False, ""),
    Column("model", ("型号", "表型号", "model"), False, ""),
    Column("installed_date", ("装表日期", "安装日期", "installed", "installed date", "installed_date"), False,
           "date (default: the opened date)"),
    Column("install_reading", ("装表读数", "起度", "安装读数", "install reading", "install_reading"), False,
           "reading at install, up to 2 decimals (default 0)"),
    Column("ic_card_no", ("IC卡号", "卡号", "ic card", "ic card no", "ic_card_no"), False,
           "card number of an IC-card prepaid meter"),
)
FIELDS: tuple[str, ...] = tuple(c.field for c in COLUMNS)
BY_FIELD: dict[str, Column] = {c.field: c for c in COLUMNS}
EXPORT_HEADERS: tuple[str, ...] = tuple(c.headers[0] for c in COLUMNS)


def _header_key(text: str) -> str:
    """Headers compare without case, spaces, full-width forms or a trailing "*" (required mark)."""
    folded = unicodedata.normalize("NFKC", text or "").strip().rstrip("*").strip().lower()
    return re.sub(r"[\s_]+", " ", folded)


HEADER_INDEX: dict[str, str] = {_header_key(h): c.field for c in COLUMNS for h in c.headers}

# Values: codes, English labels and the Chinese words legacy systems use (compared folded).
CHOICES: dict[str, dict[str, str]] = {
    "customer_type": {
        "resident": "resident", "residential": "resident", "居民": "resident", "居民用户": "resident",
        "non_resident": "non_resident", "non-resident": "non_resident", "非居民": "non_resident",
        "一般工商业": "non_resident", "工商业": "non_resident",
        "special": "special", "特殊行业": "special", "特种行业": "special",
        "industrial": "industrial", "大工业": "industrial", "工业": "industrial",
        "public": "public", "公共机构": "public", "机关事业": "public", "行政事业": "public",
    },
    "id_type": {
        "resident_id": "resident_id", "身份证": "resident_id", "居民身份证": "resident_id",
        "uscc": "uscc", "统一社会信用代码": "uscc", "营业执照": "uscc",
        "passport": "passport", "护照": "passport", "other": "other", "其他": "other", "其它": "other",
    },
    "grade": {"a": "A", "b": "B", "c": "C", "d": "D"},
    "payment_method": {
        "counter": "counter", "柜台": "counter", "现金": "counter", "坐收": "counter", "柜台缴费": "counter",
        "bank_debit": "bank_debit", "银行代扣": "bank_debit", "代扣": "bank_debit", "托收": "bank_debit",
        "wechat": "wechat", "微信": "wechat", "微信支付": "wechat",
        "alipay": "alipay", "支付宝": "alipay",
        "prepaid": "prepaid", "预付费": "prepaid", "预购": "prepaid", "ic卡": "prepaid", "购电卡": "prepaid",
    },
    "bill_delivery": {
        "paper": "paper", "纸质": "paper", "邮寄": "paper", "纸质账单": "paper",
        "sms": "sms", "短信": "sms", "wechat": "wechat", "微信": "wechat",
        "email": "email", "电子邮件": "email", "邮件": "email",
    },
    "commodity": {
        "water": "water", "水": "water", "供水": "water", "自来水": "water", "用水": "water",
        "electricity": "electricity", "电": "electricity", "电力": "electricity", "供电": "electricity",
        "用电": "electricity",
        "gas": "gas", "气": "gas", "燃气": "gas", "天然气": "gas", "供气": "gas", "用气": "gas",
    },
    "meter_type": {
        "mechanical": "mechanical", "机械表": "mechanical", "普通表": "mechanical", "机械": "mechanical",
        "ic_prepaid": "ic_prepaid", "ic卡表": "ic_prepaid", "ic卡预付费表": "ic_prepaid", "卡表": "ic_prepaid",
        "预付费表": "ic_prepaid", "ic-card prepaid": "ic_prepaid",
        "smart": "smart", "智能表": "smart", "远传表": "smart", "物联网表": "smart", "smart remote-read": "smart",
    },
}
DEFAULTS: dict[str, str] = {"customer_type": "resident", "grade": "C", "payment_method": "counter",
                            "bill_delivery": "sms"}
CODES: dict[str, tuple[str, ...]] = {name: tuple(dict.fromkeys(values.values())) for name, values in CHOICES.items()}

MAX_LENGTHS: dict[str, int] = {"customer_key": 64, "account_key": 64, "premise_key": 64, "email": 254,
                               "room": 20, "meter_serial": 40, "manufacturer": 60, "model": 60,
                               "ic_card_no": 32, "unit": 40, "address_code": 40, "id_number": 40}
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")

# --------------------------------------------------------------------------------------------------
# Problems and clean rows
# --------------------------------------------------------------------------------------------------

FILE_ROW = 0  # a problem of the whole file, not of one row


@dataclass(frozen=True)
class RowProblem:
    """One bad value: the file's row number, the column as its header is written, and why."""

    row: int
    column: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.template % dict(self.params) if self.params else self.template

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason, "template": self.template,
                "params": {k: str(v) for k, v in self.params.items()}}


class FileError(Exception):
    """The file as a whole cannot be read (size, format, encoding, damaged Excel, no header)."""

    def __init__(self, template: str, **params: Any) -> None:
        self.problem = RowProblem(FILE_ROW, "", template, params)
        super().__init__(self.problem.reason)


@dataclass(frozen=True, slots=True)
class ImportRow:
    """A row whose values are all valid, in the canonical form that is stored and compared."""

    row: int
    customer_key: str
    name: str
    customer_type: str
    id_type: str
    id_number: str
    phone: str
    email: str
    grade: str
    account_key: str
    unit: str
    payment_method: str
    bill_delivery: str
    opened_date: date
    premise_key: str
    address_code: str
    room: str
    floor_area: Decimal | None
    residents: int | None
    commodity: str
    meter_serial: str
    meter_type: str
    dial_digits: int
    multiplier: Decimal
    manufacturer: str
    model: str
    installed_date: date | None
    install_reading: Decimal
    ic_card_no: str


CUSTOMER_FIELDS = ("name", "customer_type", "id_type", "id_number", "phone", "email", "grade")
ACCOUNT_FIELDS = ("customer_key", "unit", "premise_key", "payment_method", "bill_delivery", "opened_date")
PREMISE_FIELDS = ("address_code", "room", "floor_area", "residents")
METER_FIELDS = ("meter_type", "dial_digits", "multiplier", "manufacturer", "model", "installed_date",
                "install_reading", "ic_card_no")


@dataclass
class Parsed:
    """What a file holds: its clean rows, every problem, and how its headers are written."""

    rows: list[ImportRow]
    problems: list[RowProblem]
    headers: dict[str, str]  # field → the header as written in the file
    total_rows: int
    encoding: str = ""
    file_format: str = ""

    def header(self, field_name: str) -> str:
        return self.headers.get(field_name) or BY_FIELD[field_name].headers[0]


# --------------------------------------------------------------------------------------------------
# Reading bytes: encoding, CSV, Excel
# --------------------------------------------------------------------------------------------------

XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"


def decode_text(content: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read with: UTF-8 (with or without BOM), UTF-16
    with a BOM, else GB18030 (which covers GBK and GB2312)."""
    if content.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    elif content.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        try:
            return content.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            encoding = "gb18030"
    try:
        return content.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        raise FileError(_("the file is neither UTF-8 nor GBK/GB18030 text (undecodable byte at position "
                          "%(position)s); save it as CSV (UTF-8) or .xlsx"), position=exc.start) from None


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    # The separator is the one most used on a line among the first ten (a title line may have none).
    sample = text[:20000].split("\n")[:10]
    delimiter = max(",\t;|", key=lambda d: max(line.count(d) for line in sample))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as exc:
        raise FileError(_("the CSV file is malformed near row %(row)s: %(detail)s"),
                        row=reader.line_num, detail=str(exc)) from None


def _xlsx_records(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    try:
        import openpyxl
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        raise FileError(_("reading Excel files needs openpyxl")) from exc
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # zip, zlib and XML errors share no base class: any of them is a damaged file
        raise FileError(_("the Excel file is damaged or incomplete (%(detail)s); export it again"),
                        detail=type(exc).__name__) from None
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    except Exception as exc:
        raise FileError(_("the Excel file is damaged or incomplete (%(detail)s); export it again"),
                        detail=type(exc).__name__) from None
    finally:
        workbook.close()


def records(content: bytes, filename: str, *, max_bytes: int) -> tuple[Iterator[tuple[int, list[Any]]], str, str]:
    """The file's rows as (row number, cells), with its format and encoding; ``FileError`` when the
    file is too big, empty, an old .xls, or not text."""
    if len(content) > max_bytes:
        raise FileError(_("the file is %(size)s bytes; at most %(limit)s bytes may be imported at once "
                          "(split it, or raise UCIS_IMPORT_MAX_BYTES)"), size=len(content), limit=max_bytes)
    if not content.strip():
        raise FileError(_("the file is empty"))
    name = (filename or "").lower()
    if content.startswith(XLS_MAGIC) or name.endswith(".xls"):
        raise FileError(_("old Excel 97-2003 (.xls) files are not read; save the sheet as .xlsx or CSV"))
    if content.startswith(XLSX_MAGIC) or name.endswith((".xlsx", ".xlsm")):
        if not content.startswith(XLSX_MAGIC):
            raise FileError(_("the Excel file is damaged or incomplete (%(detail)s); export it again"),
                            detail="not a zip archive")
        return _xlsx_records(content), "xlsx", ""
    text, encoding = decode_text(content)
    return _csv_records(text), "csv", encoding


# --------------------------------------------------------------------------------------------------
# Cells → values
# --------------------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A cell as trimmed text; Excel numbers that are whole (serials, phones) lose their ".0"."""
    if type(value) is str:
        # Full-width forms (１３８…, ＡＢ) fold to ASCII; the ASCII fast path matters at 100,000 rows.
        return value.strip() if value.isascii() else unicodedata.normalize("NFKC", value).strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return unicodedata.normalize("NFKC", str(value)).strip()


def parse_date(value: Any, *, today: date) -> date:
    if isinstance(value, datetime):
        result = value.date()
    elif isinstance(value, date):
        result = value
    else:
        text = cell_text(value)
        match = _DATE_RE.match(text) or _COMPACT_DATE_RE.match(text)
        if not match:
            raise ValueError(_("%(value)s is not a date (write 2024-03-01)"))
        try:
            result = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise ValueError(_("%(value)s is not a real date")) from None
    if result.year < 1950:
        raise ValueError(_("%(value)s is before 1950"))
    if result > today:
        raise ValueError(_("%(value)s is in the future"))
    return result


def parse_decimal(value: Any, *, places: int, minimum: Decimal | None = None,
                  positive: bool = False) -> Decimal:
    text = cell_text(value).replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(_("%(value)s is not a number")) from None
    if not number.is_finite():
        raise ValueError(_("%(value)s is not a number"))
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(_("%(value)s has more than %(places)s decimals"))
    if positive and number <= 0:
        raise ValueError(_("%(value)s must be greater than 0"))
    if minimum is not None and number < minimum:
        raise ValueError(_("%(value)s must not be negative"))
    return number.quantize(Decimal(1).scaleb(-places))


def parse_int(value: Any, *, low: int, high: int) -> int:
    text = cell_text(value)
    if not re.fullmatch(r"\d+", text):
        raise ValueError(_("%(value)s is not a whole number"))
    number = int(text)
    if not low <= number <= high:
        raise ValueError(_("%(value)s is outside %(low)s-%(high)s"))
    return number


def _fold(text: str) -> str:
    return re.sub(r"[\s_-]+", "_", unicodedata.normalize("NFKC", text).strip().lower())


_CHOICE_INDEX: dict[str, dict[str, str]] = {name: {**values, **{_fold(k): v for k, v in values.items()}}
                                            for name, values in CHOICES.items()}


def choice(name: str, text: str) -> str:
    """The code of a coded column's value (code, English label or Chinese word); empty → default."""
    if not text:
        return DEFAULTS.get(name, "")
    index = _CHOICE_INDEX[name]
    code = index.get(text) or index.get(_fold(text))
    if code is None:
        raise ValueError(_("%(value)s is not one of %(expected)s"))
    return code


# --------------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------------


def find_header(rows: Iterable[tuple[int, list[Any]]]) -> tuple[int, dict[str, int], dict[str, str],
                                                                   list[RowProblem], Iterator[tuple[int, list[Any]]]]:
    """Locate the header among the first ten rows; the mapping field → cell index and → header text."""
    iterator = iter(rows)
    for number, cells in iterator:
        texts = [cell_text(c) for c in cells]
        known = [HEADER_INDEX.get(_header_key(t)) for t in texts]
        if sum(1 for k in known if k) >= 3:
            positions: dict[str, int] = {}
            headers: dict[str, str] = {}
            problems: list[RowProblem] = []
            for index, (text, field_name) in enumerate(zip(texts, known, strict=True)):
                if field_name is None:
                    continue
                if field_name in positions:
                    problems.append(RowProblem(number, text, _("the column %(first)s appears twice (also as "
                                                                "%(other)s)"), {"first": text,
                                                                                "other": headers[field_name]}))
                    continue
                positions[field_name] = index
                headers[field_name] = text
            for column in COLUMNS:
                if column.required and column.field not in positions:
                    problems.append(RowProblem(number, column.headers[0],
                                               _("the required column %(column)s is missing (also accepted: "
                                                 "%(aliases)s)"), {"column": column.headers[0],
                                                                  "aliases": ", ".join(column.headers[1:])}))
            return number, positions, headers, problems, iterator
        if number >= 10:
            break
    raise FileError(_("no header row found in the first 10 rows: name the columns, e.g. %(example)s "
                      "(see the import format)"), example=", ".join(EXPORT_HEADERS[:6]))


def clean_row(number: int, cells: Mapping[str, Any], headers: Mapping[str, str], *,
              today: date) -> tuple[ImportRow | None, list[RowProblem]]:
    """Check one row's values on their own; the whole-file rules are in ``check_file``."""
    problems: list[RowProblem] = []
    values: dict[str, Any] = {}

    def header(name: str) -> str:
        return headers.get(name) or BY_FIELD[name].headers[0]

    def bad(name: str, template: str, **params: Any) -> None:
        problems.append(RowProblem(number, header(name), template, params))

    text = {name: cell_text(cells.get(name)) for name in FIELDS}
    for name in FIELDS:
        column = BY_FIELD[name]
        if column.required and not text[name]:
            bad(name, _("is required"))
        limit = MAX_LENGTHS.get(name)
        if limit and len(text[name]) > limit:
            bad(name, _("is %(count)s characters long; at most %(max)s are allowed"), count=len(text[name]),
                max=limit)
    for name in ("customer_key", "account_key", "premise_key", "unit", "address_code", "room", "manufacturer",
                 "model", "email"):
        values[name] = text[name]
    values["meter_serial"] = text["meter_serial"].upper()
    values["ic_card_no"] = text["ic_card_no"].upper()
    for name in CHOICES:
        try:
            values[name] = choice(name, text[name])
        except ValueError as exc:
            bad(name, str(exc), value=text[name], expected=" / ".join(CODES[name]))
    try:
        values["name"] = identity.normalise_name(text["name"]) if text["name"] else ""
    except DomainError as exc:
        bad("name", exc.problems[0].template, **exc.problems[0].params)
    try:
        values["phone"] = identity.validate_phone(text["phone"]) if text["phone"] else ""
    except DomainError as exc:
        bad("phone", exc.problems[0].template, **exc.problems[0].params)
    id_type, id_number = values.get("id_type", ""), text["id_number"]
    if id_number and not id_type:
        if values.get("customer_type", "resident") == "resident":
            id_type = values["id_type"] = "resident_id"
        else:
            bad("id_type", _("say which kind of ID document the number is"))
    try:
        if id_type == "resident_id" and id_number:
            values["id_number"] = identity.validate_resident_id(id_number, on_date=today)
        else:
            values["id_number"] = "".join(id_number.split()).upper()
    except DomainError as exc:
        bad("id_number", exc.problems[0].template, **exc.problems[0].params)
    if id_type and not id_number:
        bad("id_number", _("is required when the ID type is given"))
    if values["email"] and not _EMAIL_RE.match(values["email"]):
        bad("email", _("%(value)s is not an email address"), value=values["email"])

    def convert(name: str, parse: Callable[[Any], Any], default: Any) -> None:
        if not text[name]:
            values[name] = default
            return
        raw = cells.get(name)
        try:
            values[name] = parse(raw if isinstance(raw, date) else text[name])
        except ValueError as exc:
            bad(name, str(exc), value=text[name], places=2, low=_LOW.get(name, 0), high=_HIGH.get(name, 0))

    convert("opened_date", lambda v: parse_date(v, today=today), None)
    convert("installed_date", lambda v: parse_date(v, today=today), None)
    convert("floor_area", lambda v: parse_decimal(v, places=2, positive=True), None)
    convert("residents", lambda v: parse_int(v, low=_LOW["residents"], high=_HIGH["residents"]), None)
    convert("dial_digits", lambda v: parse_int(v, low=_LOW["dial_digits"], high=_HIGH["dial_digits"]), 5)
    convert("multiplier", lambda v: parse_decimal(v, places=2, positive=True), Decimal("1.00"))
    convert("install_reading", lambda v: parse_decimal(v, places=2, minimum=Decimal(0)), Decimal("0.00"))
    if values["meter_serial"]:
        if not text["meter_type"]:
            bad("meter_type", _("is required with a meter serial"))
    else:
        for name in ("meter_type", "ic_card_no", "installed_date", "install_reading"):
            if text[name]:
                bad(name, _("is given but the meter serial is empty"))
    if values["ic_card_no"] and values.get("meter_type") not in ("ic_prepaid", "", None):
        bad("ic_card_no", _("an IC card number belongs to an IC-card prepaid meter, not a %(type)s meter"),
            type=values.get("meter_type"))
    if not problems and values["installed_date"] is None and values["meter_serial"]:
        values["installed_date"] = values["opened_date"]
    if problems:
        return None, problems
    return ImportRow(row=number, **values), []


_LOW = {"residents": 1, "dial_digits": 3}
_HIGH = {"residents": 99, "dial_digits": 10}


def _disagreement(row: ImportRow, first: ImportRow, fields: Sequence[str]) -> str | None:
    for name in fields:
        if getattr(row, name) != getattr(first, name):
            return name
    return None


def check_file(rows: list[ImportRow], headers: Mapping[str, str]) -> list[RowProblem]:
    """Rules across rows: a customer, premise or account repeated on several rows says the same on
    each; an account has one premise and one row per commodity; a meter serial and an IC card number
    appear once; a meter is not on two premises at once; one person (ID number) has one customer key."""
    problems: list[RowProblem] = []

    def header(name: str) -> str:
        return headers.get(name) or BY_FIELD[name].headers[0]

    customers: dict[str, ImportRow] = {}
    premises: dict[str, ImportRow] = {}
    accounts: dict[str, ImportRow] = {}
    commodities: dict[tuple[str, str], ImportRow] = {}
    supplies: dict[tuple[str, str], ImportRow] = {}
    serials: dict[str, ImportRow] = {}
    cards: dict[str, ImportRow] = {}
    people: dict[tuple[str, str], ImportRow] = {}
    for row in rows:
        for key_field, seen, fields in (("customer_key", customers, CUSTOMER_FIELDS),
                                        ("premise_key", premises, PREMISE_FIELDS),
                                        ("account_key", accounts, ACCOUNT_FIELDS)):
            key = getattr(row, key_field)
            first = seen.setdefault(key, row)
            if first is not row:
                differs = _disagreement(row, first, fields)
                if differs:
                    problems.append(RowProblem(row.row, header(differs), _(
                        "%(key)s %(what)s says %(value)s on row %(first_row)s but %(other)s here"), {
                        "key": header(key_field), "what": key, "value": getattr(first, differs),
                        "first_row": first.row, "other": getattr(row, differs)}))
        same = commodities.setdefault((row.account_key, row.commodity), row)
        if same is not row:
            problems.append(RowProblem(row.row, header("commodity"), _(
                "account %(account)s already has %(commodity)s on row %(first_row)s; one meter per commodity "
                "and account (a replaced meter is changed in the registry, not imported)"),
                {"account": row.account_key, "commodity": row.commodity, "first_row": same.row}))
        first = supplies.setdefault((row.premise_key, row.commodity), row)
        if first.account_key != row.account_key:
            problems.append(RowProblem(row.row, header("premise_key"), _(
                "premise %(premise)s already gets %(commodity)s through account %(account)s on row %(first_row)s"),
                {"premise": row.premise_key, "commodity": row.commodity, "account": first.account_key,
                 "first_row": first.row}))
        if row.meter_serial:
            first = serials.setdefault(row.meter_serial, row)
            if first is not row:
                if first.premise_key != row.premise_key:
                    problems.append(RowProblem(row.row, header("meter_serial"), _(
                        "meter %(serial)s is installed at premise %(premise)s on row %(first_row)s and at "
                        "%(other)s here: a meter is on one premise at a time"), {
                        "serial": row.meter_serial, "premise": first.premise_key, "first_row": first.row,
                        "other": row.premise_key}))
                else:
                    problems.append(RowProblem(row.row, header("meter_serial"), _(
                        "duplicate meter serial %(serial)s (also on row %(first_row)s)"),
                        {"serial": row.meter_serial, "first_row": first.row}))
        if row.ic_card_no:
            first = cards.setdefault(row.ic_card_no, row)
            if first is not row:
                problems.append(RowProblem(row.row, header("ic_card_no"), _(
                    "duplicate IC card number %(card)s (also on row %(first_row)s)"),
                    {"card": row.ic_card_no, "first_row": first.row}))
        if row.id_number:
            first = people.setdefault((row.id_type, row.id_number), row)
            if first is not row and first.customer_key != row.customer_key:
                problems.append(RowProblem(row.row, header("id_number"), _(
                    "the same ID number is customer %(first_key)s on row %(first_row)s: one person is one "
                    "customer; use the same customer key"),
                    {"first_key": first.customer_key, "first_row": first.row}))
    return problems


ProgressFn = Callable[[int, int], None]


def parse_file(content: bytes, filename: str, *, today: date, max_bytes: int,
               progress: ProgressFn | None = None, every: int = 5000) -> Parsed:
    """Read, map and check a whole file. A file-level problem (size, format, encoding, damaged Excel,
    no header, missing columns) comes back as the only problems, with no rows."""
    try:
        raw_records, file_format, encoding = records(content, filename, max_bytes=max_bytes)
        header_row, positions, headers, problems, rest = find_header(raw_records)
        if problems:
            return Parsed([], problems, headers, 0, encoding, file_format)
        data = [(number, cells) for number, cells in rest
                if any(c is not None and c != "" and cell_text(c) for c in cells)]
    except FileError as exc:
        return Parsed([], [exc.problem], {}, 0, "", "")
    clean: list[ImportRow] = []
    problems = []
    total = len(data)
    width = max(positions.values()) + 1
    for done, (number, cells) in enumerate(data, start=1):
        if len(cells) < width:
            cells = list(cells) + [None] * (width - len(cells))
        mapped = {name: cells[index] for name, index in positions.items()}
        row, row_problems = clean_row(number, mapped, headers, today=today)
        if row is not None:
            clean.append(row)
        problems.extend(row_problems)
        if progress and done % every == 0:
            progress(done, total)
    if progress:
        progress(total, total)
    problems.extend(check_file(clean, headers))
    if not data:
        problems.append(RowProblem(header_row, "", _("the file has a header but no rows")))
    problems.sort(key=lambda p: (p.row, p.column))
    return Parsed(clean, problems, headers, total, encoding, file_format)


# --------------------------------------------------------------------------------------------------
# Writing the same shape
# --------------------------------------------------------------------------------------------------


def export_cells(row: Mapping[str, Any]) -> list[Any]:
    """One registry row (field → value) as the cells of an export, in ``COLUMNS`` order."""
    cells: list[Any] = []
    for name in FIELDS:
        value = row.get(name)
        if value is None:
            cells.append("")
        elif isinstance(value, date):
            cells.append(value.isoformat())
        elif isinstance(value, Decimal):
            cells.append(format(value, "f"))
        else:
            cells.append(value)
    return cells


def write_xlsx(rows: Iterable[Sequence[Any]], headers: Sequence[str] = EXPORT_HEADERS) -> bytes:
    """An .xlsx workbook of ``rows`` under ``headers`` (write-only: constant memory per row). Every
    cell is text, so Excel keeps leading zeros and the 18 digits of ID numbers."""
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("registry")
    sheet.append(list(headers))
    for row in rows:
        sheet.append(["" if v is None else str(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
