"""Bank batch files (银电互联): collection files (代收) and direct debits (代扣). Pure.

The format is fixed and documented in docs/bank-files.md: one header line, detail lines, one total
line, fields separated by ``|``::

    H|bank_code|merchant_code|file_date|batch_no|kind
    D|line_no|ref|account_no|customer_name|amount|date|bank_account|result_code
    T|count|sum

``kind`` is COLLECT (collections the bank took for us), DEBIT_REQ (a direct-debit request we send)
or DEBIT_RET (the bank's answer to a request, one result code per line).

Encoding rule (banks usually send GBK; docs/bank-files.md has the figures): a UTF-8 byte-order mark
means UTF-8; an all-ASCII file reads the same either way; otherwise the file is UTF-8 if it is valid
UTF-8 *and* every non-ASCII character it then holds is one names are written with (CJK ideographs,
CJK punctuation, full-width forms, the middle dot) with at least one common (BMP) ideograph;
otherwise it is GBK, decoded as GB18030 (its superset, so rare name characters survive). Short GBK
names are often valid UTF-8 by accident (司 is CB BE, a two-byte UTF-8 IPA letter), but they almost
never read as UTF-8 ideographs, which the second test demands. When the bank's encoding is known,
pass it (``encoding="gbk"``) and nothing is guessed. A line that cannot be decoded is reported,
never guessed; in a GBK file a line that reads as UTF-8 names is reported as mixed encoding instead
of being garbled.

``parse_collection_file`` never raises on bad content: it returns what it could read and a list of
every problem (line, field, reason). A file with problems must not be applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from decimal import Decimal
from typing import Any

from ucis.kernel.errors import DomainError, FieldProblem, render_reason
from ucis.kernel.errors import gettext_noop as _

COLLECT = "COLLECT"
DEBIT_REQUEST = "DEBIT_REQ"
DEBIT_RETURN = "DEBIT_RET"
KINDS = (COLLECT, DEBIT_REQUEST, DEBIT_RETURN)
RESULT_PAID = "0000"
RESULT_CODES = {  # the result codes of a debit-return file; any other 4 digits is "other failure"
    "0000": "paid",
    "3001": "insufficient funds",
    "3002": "account does not exist or is closed",
    "3003": "account name does not match",
    "3004": "account frozen",
    "3005": "over the debit limit",
    "3006": "no debit authorisation on file",
    "3999": "other failure",
}
BOM = b"\xef\xbb\xbf"
SEPARATOR = "|"
FIELDS = {"H": 6, "D": 9, "T": 3}
_AMOUNT = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")
_GOOD_DETAIL = re.compile(r"D\|([1-9][0-9]{0,8})\|([0-9A-Za-z_\-]{1,40})\|([^|\s]+)\|([^|\s](?:[^|]*[^|\s])?)"
                          r"\|([0-9]{1,15}\.[0-9]{2})\|([0-9]{8})\|([^|]*)\|([0-9]{4}|)")
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,15}\.[0-9]{2}")
_CODE = re.compile(r"[0-9A-Za-z]{1,32}")
_REF = re.compile(r"[0-9A-Za-z_\-]{1,40}")


@dataclass(frozen=True)
class BankHeader:
    bank_code: str  # the bank (e.g. its CNAPS code 102 or a short name ICBC)
    merchant_code: str  # our company's code at that bank (商户号 / 单位代码)
    file_date: date
    batch_no: str
    kind: str = COLLECT


@dataclass(frozen=True)
class BankRow:
    """A detail line's content, for writing a file."""

    ref: str  # COLLECT: the bank's serial; DEBIT_REQ/RET: our request reference (echoed back)
    account_no: str  # our customer account number
    customer_name: str
    amount: Decimal  # yuan
    on: date  # COLLECT/DEBIT_RET: the day paid; DEBIT_REQ: the day to debit
    bank_account: str = ""  # the customer's bank account (DEBIT_REQ, echoed in DEBIT_RET)
    result_code: str = ""  # DEBIT_RET only


@dataclass(frozen=True)
class BankLine(BankRow):
    line_no: int = 0  # as written in the file
    source_line: int = 0  # the physical line of the file, 1-based

    @property
    def paid(self) -> bool:
        """Money was received: every COLLECT line, and DEBIT_RET lines with result 0000."""
        return self.result_code in ("", RESULT_PAID)


@dataclass(frozen=True)
class BankTotal:
    count: int
    amount: Decimal


@dataclass(frozen=True)
class FileProblem:
    line: int  # physical line, 1-based; 0 for the file as a whole
    field: str
    template: str
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)

    @property
    def reason(self) -> str:
        return render_reason(self.template, self.params)

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.reason}"


@dataclass(frozen=True)
class BankFile:
    header: BankHeader | None
    lines: tuple[BankLine, ...]  # the readable detail lines (a line with any problem is left out)
    total: BankTotal | None
    problems: tuple[FileProblem, ...]
    encoding: str  # "utf-8" or "gbk"

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


# --- decoding -------------------------------------------------------------------------------------

def _name_char(ch: str) -> bool:
    """A character Chinese names and addresses are written with, beyond ASCII: CJK ideographs
    (with extensions and compatibility forms), CJK punctuation, full-width forms, the middle dot."""
    code = ord(ch)
    return (code < 0x80 or code == 0xB7 or 0x3000 <= code <= 0x303F or 0x3400 <= code <= 0x4DBF
            or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF
            or 0x20000 <= code <= 0x3FFFF)


def _reads_as_names(text: str) -> bool:
    """Every non-ASCII character is a name character, and at least one is a common (BMP) ideograph."""
    wide = [ch for ch in text if ord(ch) >= 0x80]
    return all(_name_char(ch) for ch in wide) and any(0x3400 <= ord(ch) <= 0x9FFF for ch in wide)


_UTF8_IDEOGRAPH = re.compile(b"[\\xe3-\\xe9][\\x80-\\xbf][\\x80-\\xbf]")  # U+3000 … U+9FFF in UTF-8
_MIXED = _("this line is UTF-8 but the file is GBK: mixed encodings, the names would be garbled")


def _utf8_names(raw: bytes) -> bool:
    try:
        return _reads_as_names(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return False


def _decode(data: bytes, forced: str | None) -> tuple[list[str | bytes], str, list[FileProblem]]:
    """The file's lines (the raw bytes of an undecodable one), the encoding, and problems."""
    problems: list[FileProblem] = []
    if data.startswith(BOM):
        data, encoding, codec = data[len(BOM):], "utf-8", "utf-8"
    elif forced is not None:
        encoding, codec = forced, "utf-8" if forced == "utf-8" else "gb18030"
    elif data.isascii():
        encoding, codec = "utf-8", "utf-8"
    else:
        encoding, codec = "gbk", "gb18030"
        try:
            if _reads_as_names(data.decode("utf-8")):
                encoding, codec = "utf-8", "utf-8"
        except UnicodeDecodeError:
            pass
    try:  # the usual case: the whole file decodes; only lines that may be UTF-8 get a second look
        text = data.decode(codec)
    except UnicodeDecodeError:
        pass
    else:
        whole: list[str | bytes] = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
        if codec == "gb18030" and _UTF8_IDEOGRAPH.search(data):
            for index, raw in enumerate(data.split(b"\n")):
                if _UTF8_IDEOGRAPH.search(raw) and _utf8_names(raw):
                    problems.append(FileProblem(index + 1, "encoding", _MIXED))
                    whole[index] = raw
        return whole, encoding, problems
    lines: list[str | bytes] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            problems.append(FileProblem(number, "encoding", _("bytes that are neither %(encoding)s nor UTF-8 "
                                                              "at column %(column)s"),
                                        {"encoding": encoding.upper(), "column": exc.start + 1}))
            lines.append(raw)
            continue
        if codec == "gb18030" and _UTF8_IDEOGRAPH.search(raw) and _utf8_names(raw):
            problems.append(FileProblem(number, "encoding", _MIXED))
            lines.append(raw)
            continue
        lines.append(text[:-1] if text.endswith("\r") else text)
    return lines, encoding, problems


# --- fields ---------------------------------------------------------------------------------------

def parse_amount(text: str) -> tuple[Decimal | None, str | None]:
    """An amount of yuan written with exactly two decimals, more than zero: (amount, None) or
    (None, reason template)."""
    if _PLAIN_AMOUNT.fullmatch(text):  # the usual case, 123.45
        amount = Decimal(text)
        return (amount, None) if amount else (None, _("the amount is zero"))
    match = _AMOUNT.fullmatch(text.strip())
    if not match:
        return None, _("the amount %(value)s is not a number")
    sign, whole, decimals = match.groups()
    if sign == "-":
        return None, _("the amount %(value)s is negative")
    if decimals is None or len(decimals) < 2:
        return None, _("the amount %(value)s must have exactly two decimals")
    if len(decimals) > 2:
        return None, _("the amount %(value)s has more than two decimals")
    amount = Decimal(f"{whole}.{decimals}")
    if amount == 0:
        return None, _("the amount is zero")
    return amount, None


_DATES: dict[str, date | None] = {}


def _date(text: str) -> date | None:
    """A YYYYMMDD date (a file holds few distinct dates: each is parsed once)."""
    if text in _DATES:
        return _DATES[text]
    value = None
    if len(text) == 8 and text.isascii() and text.isdigit():
        try:
            value = date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            value = None
    if len(_DATES) < 10_000:
        _DATES[text] = value
    return value


def _count(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


class _Parser:
    def __init__(self, kinds: Iterable[str]) -> None:
        self.kinds = tuple(kinds)
        self.problems: list[FileProblem] = []
        self.header: BankHeader | None = None
        self.total: BankTotal | None = None
        self.total_line = 0
        self.lines: list[BankLine] = []
        self.details = 0
        self.amounts_ok = True
        self.amount_sum = Decimal("0.00")
        self.seen_no: dict[int, int] = {}
        self.seen_ref: dict[str, int] = {}

    def problem(self, line: int, field_name: str, template: str, **params: Any) -> None:
        self.problems.append(FileProblem(line, field_name, template, params))

    def header_line(self, n: int, f: list[str]) -> None:
        before = len(self.problems)
        bank, merchant, day, batch, kind = (x.strip() for x in f[1:])
        if not _CODE.fullmatch(bank):
            self.problem(n, "bank_code", _("the bank code %(value)s is not 1–32 letters or digits"), value=bank)
        if not _CODE.fullmatch(merchant):
            self.problem(n, "merchant_code", _("the merchant code %(value)s is not 1–32 letters or digits"),
                         value=merchant)
        on = _date(day)
        if on is None:
            self.problem(n, "file_date", _("the date %(value)s is not a date written YYYYMMDD"), value=day)
        if not _CODE.fullmatch(batch):
            self.problem(n, "batch_no", _("the batch number %(value)s is not 1–32 letters or digits"), value=batch)
        if kind not in self.kinds:
            self.problem(n, "kind", _("the file kind %(value)s is not one of %(kinds)s"), value=kind,
                         kinds=", ".join(self.kinds))
        if len(self.problems) == before and on is not None:
            self.header = BankHeader(bank, merchant, on, batch, kind)

    def detail_line(self, n: int, f: list[str]) -> None:
        before = len(self.problems)
        self.details += 1
        kind = self.header.kind if self.header else None
        no_text, ref, account, name, amount_text, day, bank_account, result = f[1:]
        name = name.strip()
        line_no = _count(no_text)
        if line_no is None or line_no == 0:
            self.problem(n, "line_no", _("the line number %(value)s is not a positive whole number"),
                         value=no_text)
        elif line_no in self.seen_no:
            self.problem(n, "line_no", _("line number %(value)s repeats line %(first)s"), value=line_no,
                         first=self.seen_no[line_no])
        else:
            self.seen_no[line_no] = n
        if not _REF.fullmatch(ref):
            self.problem(n, "ref", _("the reference %(value)s is not 1–40 letters, digits, - or _"), value=ref)
        elif ref in self.seen_ref:
            self.problem(n, "ref", _("the reference %(value)s repeats line %(first)s"), value=ref,
                         first=self.seen_ref[ref])
        else:
            self.seen_ref[ref] = n
        if not account.strip():
            self.problem(n, "account_no", _("the account number is empty"))
        if not name:
            self.problem(n, "customer_name", _("the customer name is empty"))
        amount, reason = parse_amount(amount_text)
        if reason is not None:
            self.amounts_ok = False
            self.problem(n, "amount", reason, value=amount_text)
        else:
            assert amount is not None
            self.amount_sum += amount
        on = _date(day)
        if on is None:
            self.problem(n, "date", _("the date %(value)s is not a date written YYYYMMDD"), value=day)
        if kind == DEBIT_REQUEST and not bank_account:
            self.problem(n, "bank_account", _("a debit request needs the customer's bank account"))
        if kind == DEBIT_RETURN:
            if not (len(result) == 4 and result.isascii() and result.isdigit()):
                self.problem(n, "result_code", _("the result code %(value)s is not 4 digits"), value=result)
        elif result:
            self.problem(n, "result_code", _("only a debit-return file has result codes"))
        if len(self.problems) == before and amount is not None and on is not None and line_no:
            self.lines.append(BankLine(ref=ref, account_no=account, customer_name=name, amount=amount, on=on,
                                       bank_account=bank_account, result_code=result, line_no=line_no,
                                       source_line=n))

    def fast_detail(self, n: int, text: str) -> bool:
        """A well-formed detail line, taken without the field-by-field checks (most lines of a
        file). False: the line needs the full check (``detail_line``), which reports its problems."""
        match = _GOOD_DETAIL.fullmatch(text)
        if match is None:
            return False
        no_text, ref, account, name, amount_text, day, bank_account, result = match.groups()
        kind = self.header.kind if self.header else None
        line_no = int(no_text)
        on = _date(day)
        if (on is None or line_no in self.seen_no or ref in self.seen_ref
                or (result != "" if kind != DEBIT_RETURN else result == "")
                or (kind == DEBIT_REQUEST and not bank_account)):
            return False
        amount = Decimal(amount_text)
        if not amount:
            return False
        self.details += 1
        self.amount_sum += amount
        self.seen_no[line_no] = n
        self.seen_ref[ref] = n
        self.lines.append(BankLine(ref=ref, account_no=account, customer_name=name, amount=amount, on=on,
                                   bank_account=bank_account, result_code=result, line_no=line_no, source_line=n))
        return True

    def total_line_(self, n: int, f: list[str]) -> None:
        count = _count(f[1].strip())
        amount, reason = parse_amount(f[2])
        if amount is None and f[2].strip() in ("0.00", "+0.00"):
            amount, reason = Decimal("0.00"), None
        if count is None:
            self.problem(n, "count", _("the count %(value)s is not a whole number"), value=f[1])
        if reason is not None:
            self.problem(n, "sum", reason, value=f[2])
        self.total_line = n
        if count is not None and count != self.details:
            self.problem(n, "count", _("the total line counts %(stated)s lines, the file has %(found)s"),
                         stated=count, found=self.details)
        if amount is not None and self.amounts_ok and amount != self.amount_sum:
            self.problem(n, "sum", _("the total line sums %(stated)s, the lines add up to %(found)s"),
                         stated=f"{amount:.2f}", found=f"{self.amount_sum:.2f}")
        if count is not None and amount is not None:
            self.total = BankTotal(count, amount)

    def parse(self, data: bytes, encoding: str | None) -> BankFile:
        if not data:
            self.problem(0, "file", _("the file is empty"))
            return BankFile(None, (), None, tuple(self.problems), encoding or "utf-8")
        lines, encoding, problems = _decode(data, encoding)
        self.problems.extend(problems)
        if lines and lines[-1] == "":  # the line end of the last line
            lines.pop()
        else:
            self.problem(len(lines), "line", _("the last line has no line end: the file looks truncated"))
        while lines and isinstance(lines[-1], str) and not lines[-1].strip():  # blank lines at the end
            lines.pop()
        header_seen = False
        for n, text in enumerate(lines, start=1):
            if isinstance(text, bytes):  # undecodable, already reported
                header_seen = header_seen or n == 1
                if text.startswith(b"D|"):  # the bank counted it: keep the total line's checks honest
                    self.details += 1
                    self.amounts_ok = False
                continue
            if self.header is not None and not self.total_line and self.fast_detail(n, text):
                continue
            fields = text.split(SEPARATOR)
            record = fields[0].strip()
            if not text.strip():
                self.problem(n, "line", _("an empty line"))
                continue
            if record not in FIELDS:
                self.problem(n, "record_type", _("a line starts with H, D or T, not %(value)s"), value=record[:10])
                continue
            if n == 1 and record != "H":
                self.problem(1, "header", _("the file must start with a header line H|…"))
            if record == "H" and n != 1:
                self.problem(n, "header", _("a header line may only be the first line"))
                continue
            if self.total_line:
                self.problem(n, "line", _("a line after the total line (line %(total)s)"), total=self.total_line)
                continue
            if len(fields) != FIELDS[record]:
                self.problem(n, "line", _("a %(record)s line has %(expected)s fields separated by |, this one "
                                          "has %(found)s"), record=record, expected=FIELDS[record],
                             found=len(fields))
                if record == "D":
                    self.details += 1
                    self.amounts_ok = False
                continue
            if record == "H":
                header_seen = True
                self.header_line(n, fields)
            elif record == "D":
                self.detail_line(n, fields)
            else:
                self.total_line_(n, fields)
        if not header_seen and not any(p.field == "header" for p in self.problems):
            self.problem(1, "header", _("the file must start with a header line H|…"))
        if not self.total_line:
            self.problem(len(lines) + 1, "total", _("the total line T|count|sum is missing: the file looks "
                                                    "truncated"))
        ordered = sorted(self.problems, key=lambda p: p.line)
        return BankFile(self.header, tuple(self.lines), self.total, tuple(ordered), encoding)


def parse_bank_file(data: bytes, *, kinds: Iterable[str] = KINDS, encoding: str | None = None) -> BankFile:
    """Read any bank file; the header's kind must be one of ``kinds``. ``encoding`` ("gbk" or
    "utf-8") skips the detection when the bank's encoding is known (a BOM still means UTF-8)."""
    if encoding not in (None, "gbk", "utf-8"):
        raise ValueError("encoding is None (detect), gbk or utf-8")
    return _Parser(kinds).parse(bytes(data), encoding)


def parse_collection_file(data: bytes, *, encoding: str | None = None) -> BankFile:
    """A file from the bank: collections (COLLECT) or the results of our debit request (DEBIT_RET)."""
    return parse_bank_file(data, kinds=(COLLECT, DEBIT_RETURN), encoding=encoding)


def parse_debit_request(data: bytes, *, encoding: str | None = None) -> BankFile:
    """A direct-debit request file (DEBIT_REQ), as ``write_debit_request`` writes it."""
    return parse_bank_file(data, kinds=(DEBIT_REQUEST,), encoding=encoding)


# --- writing --------------------------------------------------------------------------------------

def _clean_text(value: str, name: str, problems: list[FieldProblem], *, required: bool = True) -> None:
    if required and not value.strip():
        problems.append(FieldProblem(name, _("must not be empty")))
    if any(ch in value for ch in "|\r\n"):
        problems.append(FieldProblem(name, _("must not contain |, or a line break")))


def write_bank_file(*, header: BankHeader, rows: Sequence[BankRow], encoding: str = "gbk") -> bytes:
    """A complete bank file (lines end CRLF). Refuses (``DomainError``) anything the parser would
    report, and a name the encoding cannot hold (GBK cannot write every character; it is never
    replaced by ``?``)."""
    if encoding not in ("gbk", "utf-8"):
        raise ValueError("encoding is gbk or utf-8")
    problems: list[FieldProblem] = []
    if header.kind not in KINDS:
        problems.append(FieldProblem("header.kind", _("the file kind %(value)s is not one of %(kinds)s"),
                                     {"value": header.kind, "kinds": ", ".join(KINDS)}))
    for name in ("bank_code", "merchant_code", "batch_no"):
        if not _CODE.fullmatch(getattr(header, name)):
            problems.append(FieldProblem(f"header.{name}", _("must be 1–32 letters or digits")))
    out = [SEPARATOR.join(["H", header.bank_code, header.merchant_code, header.file_date.strftime("%Y%m%d"),
                           header.batch_no, header.kind])]
    total = Decimal("0.00")
    refs: set[str] = set()
    for i, row in enumerate(rows):
        at = f"rows[{i}]"
        if not _REF.fullmatch(row.ref):
            problems.append(FieldProblem(f"{at}.ref", _("the reference %(value)s is not 1–40 letters, digits, "
                                                        "- or _"), {"value": row.ref}))
        elif row.ref in refs:
            problems.append(FieldProblem(f"{at}.ref", _("the reference %(value)s is used twice"), {"value": row.ref}))
        refs.add(row.ref)
        _clean_text(row.account_no, f"{at}.account_no", problems)
        _clean_text(row.customer_name, f"{at}.customer_name", problems)
        _clean_text(row.bank_account, f"{at}.bank_account", problems, required=header.kind == DEBIT_REQUEST)
        amount_ok = (isinstance(row.amount, Decimal) and row.amount.is_finite() and row.amount > 0
                     and row.amount.as_tuple().exponent >= -2)  # type: ignore[operator]
        amount_text = f"{row.amount:.2f}" if amount_ok else "?"
        if not amount_ok:
            problems.append(FieldProblem(f"{at}.amount", _("an amount is more than zero with at most two "
                                                           "decimals, not %(value)s"), {"value": str(row.amount)}))
        else:
            total += Decimal(amount_text)
        if (header.kind == DEBIT_RETURN) != bool(row.result_code):
            problems.append(FieldProblem(f"{at}.result_code", _("result codes belong in debit-return files only")))
        line = SEPARATOR.join(["D", str(i + 1), row.ref, row.account_no, row.customer_name.strip(), amount_text,
                               row.on.strftime("%Y%m%d"), row.bank_account, row.result_code])
        if encoding == "gbk":
            try:
                line.encode("gbk")
            except UnicodeEncodeError as exc:
                problems.append(FieldProblem(f"{at}.customer_name", _("the character %(char)s cannot be written "
                                                                      "in GBK"), {"char": line[exc.start]}))
        out.append(line)
    if problems:
        raise DomainError(problems=problems)
    out.append(SEPARATOR.join(["T", str(len(rows)), f"{total:.2f}"]))
    return ("\r\n".join(out) + "\r\n").encode(encoding)


def write_debit_request(*, header: BankHeader, rows: Sequence[BankRow]) -> bytes:
    """The direct-debit request (代扣请求) we send the bank, in GBK."""
    if header.kind != DEBIT_REQUEST:
        raise DomainError("header.kind", _("a debit request file has kind %(kind)s"), kind=DEBIT_REQUEST)
    return write_bank_file(header=header, rows=rows, encoding="gbk")


# --- reconciliation -------------------------------------------------------------------------------

@dataclass(frozen=True)
class OurRecord:
    """A payment we posted for this bank channel, keyed by the bank reference."""

    ref: str
    account_no: str
    amount: Decimal


@dataclass(frozen=True)
class ReconcileItem:
    ref: str
    account_no: str
    bank_amount: Decimal | None
    our_amount: Decimal | None
    template: str
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)

    @property
    def explanation(self) -> str:
        return render_reason(self.template, self.params)

    @property
    def difference(self) -> Decimal:
        """Bank minus ours."""
        return (self.bank_amount or Decimal("0.00")) - (self.our_amount or Decimal("0.00"))


def _sum(values: Iterable[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), Decimal("0.00"))


@dataclass(frozen=True)
class ReconcileReport:
    matched: tuple[ReconcileItem, ...]
    bank_only: tuple[ReconcileItem, ...]  # the bank took the money, we posted nothing: apply it
    ours_only: tuple[ReconcileItem, ...]  # we posted it, the bank does not list it (or reports it failed)
    amount_mismatches: tuple[ReconcileItem, ...]
    account_mismatches: tuple[ReconcileItem, ...]
    failed: tuple[ReconcileItem, ...]  # debit-return lines the bank could not debit (not exceptions)

    @property
    def clean(self) -> bool:
        return not (self.bank_only or self.ours_only or self.amount_mismatches or self.account_mismatches)

    @property
    def exceptions(self) -> tuple[ReconcileItem, ...]:
        """The exceptions report (差错报告), in one list."""
        return self.bank_only + self.ours_only + self.amount_mismatches + self.account_mismatches

    @property
    def bank_total(self) -> Decimal:
        return _sum(i.bank_amount for i in self.matched + self.bank_only + self.amount_mismatches
                    + self.account_mismatches)

    @property
    def our_total(self) -> Decimal:
        return _sum(i.our_amount for i in self.matched + self.ours_only + self.amount_mismatches
                    + self.account_mismatches)

    @property
    def matched_total(self) -> Decimal:
        return _sum(i.bank_amount for i in self.matched)

    @property
    def difference(self) -> Decimal:
        """Bank total minus our total: zero when the day balances."""
        return self.bank_total - self.our_total

    def totals(self) -> dict[str, tuple[int, Decimal]]:
        """Count and amount per section (bank amounts; ours for ``ours_only``)."""
        return {
            "matched": (len(self.matched), self.matched_total),
            "bank_only": (len(self.bank_only), _sum(i.bank_amount for i in self.bank_only)),
            "ours_only": (len(self.ours_only), _sum(i.our_amount for i in self.ours_only)),
            "amount_mismatches": (len(self.amount_mismatches), _sum(i.difference for i in self.amount_mismatches)),
            "account_mismatches": (len(self.account_mismatches),
                                   _sum(i.bank_amount for i in self.account_mismatches)),
            "failed": (len(self.failed), _sum(i.bank_amount for i in self.failed)),
        }


def reconcile(bank_lines: Sequence[BankLine], our_records: Sequence[OurRecord]) -> ReconcileReport:
    """Compare the bank's lines with what we posted, by reference. Pure; order of the sections
    follows the bank file, then our records."""
    ours: dict[str, OurRecord] = {}
    ours_only: list[ReconcileItem] = []
    for record in our_records:
        if record.ref in ours:
            ours_only.append(ReconcileItem(record.ref, record.account_no, None, record.amount,
                                           _("posted twice under the same bank reference")))
        else:
            ours[record.ref] = record
    matched: list[ReconcileItem] = []
    bank_only: list[ReconcileItem] = []
    amounts: list[ReconcileItem] = []
    accounts: list[ReconcileItem] = []
    failed: list[ReconcileItem] = []
    failed_codes: dict[str, str] = {}
    for line in bank_lines:
        if not line.paid:
            meaning = RESULT_CODES.get(line.result_code, RESULT_CODES["3999"])
            failed.append(ReconcileItem(line.ref, line.account_no, line.amount, None,
                                        _("the bank could not debit: %(code)s %(meaning)s"),
                                        {"code": line.result_code, "meaning": meaning}))
            failed_codes[line.ref] = line.result_code
            continue
        found = ours.pop(line.ref, None)
        if found is None:
            bank_only.append(ReconcileItem(line.ref, line.account_no, line.amount, None,
                                           _("the bank collected this but we have not posted it")))
        elif found.amount != line.amount:
            amounts.append(ReconcileItem(line.ref, line.account_no, line.amount, found.amount,
                                         _("the bank has %(bank)s, we posted %(ours)s"),
                                         {"bank": f"{line.amount:.2f}", "ours": f"{found.amount:.2f}"}))
        elif found.account_no != line.account_no:
            accounts.append(ReconcileItem(line.ref, line.account_no, line.amount, found.amount,
                                          _("the bank credited account %(bank)s, we posted to %(ours)s"),
                                          {"bank": line.account_no, "ours": found.account_no}))
        else:
            matched.append(ReconcileItem(line.ref, line.account_no, line.amount, found.amount, _("matched")))
    for record in ours.values():
        if record.ref in failed_codes:
            ours_only.append(ReconcileItem(record.ref, record.account_no, None, record.amount,
                                           _("we posted it but the bank reports the debit failed (%(code)s)"),
                                           {"code": failed_codes[record.ref]}))
        else:
            ours_only.append(ReconcileItem(record.ref, record.account_no, None, record.amount,
                                           _("we posted it but the bank does not list it")))
    return ReconcileReport(tuple(matched), tuple(bank_only), tuple(ours_only), tuple(amounts), tuple(accounts),
                           tuple(failed))
