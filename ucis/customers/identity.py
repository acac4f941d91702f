"""Rules for who a customer is (客户身份): resident ID numbers, phone numbers, names, customer numbers.

Pure: plain values in, normalised values or ``DomainError`` out; no Django, no clock (callers pass
``on_date``). Validators return the value in the one canonical form that is stored and compared, so
"+86 138-1234-5678" and "13812345678" are the same phone, and "11010519491231002x" the same ID.

* Resident identity numbers (居民身份证号码) follow GB 11643-1999: 6-digit region code, 8-digit
  birth date, 3-digit sequence (odd = male, even = female), and an ISO 7064 MOD 11-2 check character.
* Phones: mainland mobiles, landlines with an area code (and optional extension), and service
  numbers (95xxx / 96xxx hotlines, 400 / 800 numbers).
* Customer numbers (户号): a configurable prefix, a zero-padded sequence and a Luhn check digit.
"""

from __future__ import annotations

import functools
import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

import pypinyin

from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _

# --------------------------------------------------------------------------------------------------
# Resident identity numbers (GB 11643-1999)
# --------------------------------------------------------------------------------------------------

ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"  # indexed by (weighted sum % 11)
EARLIEST_BIRTH = date(1900, 1, 1)

# First two digits of the region code (GB/T 2260 provinces; 71 Taiwan, 81 Hong Kong, 82 Macao;
# 83 is used on residence permits for Taiwan residents).
PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 16)] + [str(n) for n in range(21, 24)] + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)] + [str(n) for n in range(50, 55)] + [str(n) for n in range(61, 66)]
    + ["71", "81", "82", "83"]
)

_ID_SHAPE_RE = re.compile(r"^\d{17}[\dX]$")
_SEX_MALE = "M"
_SEX_FEMALE = "F"


def resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ("0"-"9" or "X") for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise DomainError("id_number", _("the first part of an ID number must be 17 digits, got %(value)s"),
                          value=first17)
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def _compact_id(value: str) -> str:
    """Full-width characters folded to ASCII, all whitespace removed, a trailing x upper-cased."""
    text = unicodedata.normalize("NFKC", value or "")
    text = "".join(text.split())
    if text.endswith("x"):
        text = text[:-1] + "X"
    return text


def _check_id_shape(value: str, field: str) -> None:
    if not value:
        raise DomainError(field, _("is required"))
    if len(value) == 15 and value.isascii() and value.isdigit():
        raise DomainError(field, _("%(value)s is an old 15-digit number; enter the 18-digit number"),
                          value=value)
    if len(value) != 18:
        raise DomainError(field, _("an ID number has 18 characters, %(value)s has %(count)s"),
                          value=value, count=len(value))
    if not value.isascii() or not _ID_SHAPE_RE.match(value):
        raise DomainError(field, _("%(value)s is not an ID number: expected 17 digits and a final digit or X"),
                          value=value)


def _id_birth_date(value: str, field: str) -> date:
    digits = value[6:14]
    try:
        return date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise DomainError(field, _("the birth date %(digits)s in the ID number is not a real date"),
                          digits=digits) from None


def validate_resident_id(value: str, *, on_date: date, field: str = "id_number") -> str:
    """The 18-character resident ID number in canonical form, or ``DomainError`` naming the problem.

    Checks, in this order: shape (17 digits + digit/X), province code, birth date (a real date, not
    before 1900-01-01 and not after ``on_date``) and the check character.
    """
    text = _compact_id(value)
    _check_id_shape(text, field)
    province = text[:2]
    if province not in PROVINCE_CODES:
        raise DomainError(field, _("%(code)s is not a province code (first two digits of the ID number)"),
                          code=province)
    birth = _id_birth_date(text, field)
    if birth < EARLIEST_BIRTH:
        raise DomainError(field, _("the birth date %(birth)s in the ID number is before 1900"),
                          birth=birth.isoformat())
    if birth > on_date:
        raise DomainError(field, _("the birth date %(birth)s in the ID number is in the future"),
                          birth=birth.isoformat())
    expected = resident_id_check_char(text[:17])
    if text[17] != expected:
        raise DomainError(field, _("check digit should be %(expected)s, not %(actual)s"),
                          expected=expected, actual=text[17])
    return text


def birth_date_and_sex(id_number: str) -> tuple[date, str]:
    """Birth date and sex ("M" odd / "F" even 17th digit) encoded in an ID number.

    Checks the shape and the date but not the check character or province: use
    ``validate_resident_id`` first when the number comes from outside.
    """
    text = _compact_id(id_number)
    _check_id_shape(text, "id_number")
    return _id_birth_date(text, "id_number"), _SEX_MALE if int(text[16]) % 2 else _SEX_FEMALE


def make_resident_id(rng: random.Random, *, region: str = "330100", birth: date, seq: int | None = None,
                     sex: str | None = None) -> str:
    """A valid ID number for demo data: ``region`` + ``birth`` + 3-digit sequence + check character.

    ``seq`` (0-999) is the sequence code, whose last digit's parity is the sex (odd male, even
    female); when it is ``None`` one is drawn from ``rng`` (1-999), of sex ``sex`` ("M"/"F") if given.
    """
    if not (len(region) == 6 and region.isascii() and region.isdigit()) or region[:2] not in PROVINCE_CODES:
        raise DomainError("region", _("%(region)s is not a 6-digit region code of a province"), region=region)
    if birth < EARLIEST_BIRTH:
        raise DomainError("birth", _("the birth date %(birth)s is before 1900"), birth=birth.isoformat())
    if sex is not None and sex not in (_SEX_MALE, _SEX_FEMALE):
        raise DomainError("sex", _("sex must be M or F, not %(sex)s"), sex=sex)
    if seq is None:
        seq = rng.randint(1, 999)
        if sex is not None and (seq % 2 == 1) != (sex == _SEX_MALE):
            seq = seq - 1 if seq > 1 else seq + 1
    else:
        if not 0 <= seq <= 999:
            raise DomainError("seq", _("the sequence code must be 0-999, not %(seq)s"), seq=seq)
        if sex is not None and (seq % 2 == 1) != (sex == _SEX_MALE):
            raise DomainError("seq", _("sequence code %(seq)s does not encode sex %(sex)s"), seq=seq, sex=sex)
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + resident_id_check_char(first17)


# --------------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------------

MOBILE = "mobile"
LANDLINE = "landline"
SERVICE = "service"

_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
# Area codes: 010 and 02x have three digits (Beijing, Shanghai, Tianjin, Chongqing, Guangzhou, ...);
# all others (0311, 0571, ...) four. Local numbers are 7-8 digits and do not start with 0.
_LANDLINE_RE = re.compile(r"^(0(?:10|2\d)|0[3-9]\d{2})([1-9]\d{6,7})$")
_SHORT_SERVICE_RE = re.compile(r"^9[56]\d{3}$")  # 95598 (State Grid), 96777, ...
_TOLL_FREE_RE = re.compile(r"^[48]00\d{7}$")  # 400 / 800 numbers
_EXTENSION_WORD_RE = re.compile(r"^(.*?)\s*(?:转|分机|ext\.?|x|#)\s*(\d{1,6})$", re.IGNORECASE)
_SEPARATORS_RE = re.compile(r"[\s\-()（）.]+")
_COUNTRY_CODE_RE = re.compile(r"^(?:\+86|0086)")


def _landline_parts(digits: str) -> tuple[str, str] | None:
    match = _LANDLINE_RE.match(digits)
    return (match.group(1), match.group(2)) if match else None


def _strip_country_code(compact: str) -> tuple[str, bool]:
    stripped = _COUNTRY_CODE_RE.sub("", compact, count=1)
    if stripped != compact:
        return stripped, True
    if len(compact) == 13 and compact.startswith("86") and _MOBILE_RE.match(compact[2:]):
        return compact[2:], True
    return compact, False


def _main_number(text: str) -> str:
    """Digits of a number without extension: separators and country code removed; after a country
    code a landline's dropped trunk 0 is restored (+86 571 8765 4321 → 057187654321)."""
    compact, had_country_code = _strip_country_code(_SEPARATORS_RE.sub("", text))
    if had_country_code and compact and not _MOBILE_RE.match(compact) and not compact.startswith("0"):
        compact = "0" + compact
    return compact


def validate_phone(value: str, *, field: str = "phone") -> str:
    """The phone number in canonical form, or ``DomainError``.

    * mobile: ``13812345678`` (11 digits; +86 / 0086 and separators dropped)
    * landline: ``0571-87654321``, with an extension ``0571-87654321-123`` (written ``-123``,
      ``转123``, ``ext 123`` or ``x123``)
    * service: ``95598`` / ``96xxx`` as is, ``400-123-4567`` / ``800-123-4567``
    """
    text = unicodedata.normalize("NFKC", value or "").strip()
    if not text:
        raise DomainError(field, _("is required"))
    extension: str | None = None
    worded = _EXTENSION_WORD_RE.match(text)
    if worded and _landline_parts(_main_number(worded.group(1))):
        text, extension = worded.group(1), worded.group(2)
    elif "-" in text:
        head, tail = text.rsplit("-", 1)
        tail = tail.strip()
        if 1 <= len(tail) <= 6 and tail.isascii() and tail.isdigit() and _landline_parts(_main_number(head)):
            text, extension = head, tail
    digits = _main_number(text)
    if digits.startswith("+"):
        raise DomainError(field, _("%(value)s is a foreign number; only mainland China numbers (+86) are "
                                   "accepted"), value=value)
    if not digits or not digits.isascii() or not digits.isdigit():
        raise DomainError(field, _("%(value)s is not a phone number: use digits, spaces and dashes only"),
                          value=value)
    if extension is None:
        if _MOBILE_RE.match(digits):
            return digits
        if _SHORT_SERVICE_RE.match(digits):
            return digits
        if _TOLL_FREE_RE.match(digits):
            return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    parts = _landline_parts(digits)
    if parts is None:
        if digits.startswith("1") and len(digits) == 11:
            raise DomainError(field, _("%(value)s is not a mobile number: the second digit must be 3-9"),
                              value=value)
        raise DomainError(field, _("%(value)s is not a mobile number (11 digits starting 13-19), a landline "
                                   "with area code (e.g. 0571-87654321) or a service number (e.g. 95598)"),
                          value=value)
    area, local = parts
    return f"{area}-{local}" + (f"-{extension}" if extension else "")


def phone_kind(value: str) -> str:
    """``"mobile"``, ``"landline"`` or ``"service"`` for a phone (validated on the way)."""
    phone = validate_phone(value)
    if _MOBILE_RE.match(phone):
        return MOBILE
    if phone.startswith("0"):
        return LANDLINE
    return SERVICE


# --------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------

NAME_MAX_LENGTH = 100
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})  # control, format (zero-width...), surrogates


def _is_cjk(char: str) -> bool:
    return unicodedata.category(char) == "Lo" and unicodedata.east_asian_width(char) == "W"


def normalise_name(value: str, *, field: str = "name") -> str:
    """A customer's name in canonical form: trimmed, inner whitespace collapsed to one space, no
    full-width spaces (张　三 → 张三), no space between two Chinese characters (张 三 → 张三),
    1-100 characters, no control or invisible format characters.

    Private-use characters are kept: legacy systems encode rare name characters (生僻字) there.
    """
    text = value or ""
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES and not char.isspace():
            raise DomainError(field, _("contains the control character U+%(code)s"),
                              code=f"{ord(char):04X}")
    text = " ".join(text.split())  # str.split() also splits on the full-width space U+3000
    # Chinese names are written without spaces; drop one left between two Chinese characters.
    text = "".join(
        char for i, char in enumerate(text)
        if not (char == " " and 0 < i < len(text) - 1 and _is_cjk(text[i - 1]) and _is_cjk(text[i + 1]))
    )
    if not text:
        raise DomainError(field, _("is required"))
    if len(text) > NAME_MAX_LENGTH:
        raise DomainError(field, _("is %(count)s characters long; at most %(max)s are allowed"),
                          count=len(text), max=NAME_MAX_LENGTH)
    return text


# Surnames whose reading differs from the character's everyday reading (多音字姓氏). pypinyin 0.55
# has no surname mode (lazy_pinyin("曾国藩") reads 曾 as céng), so the surname — the first one or two
# characters of a person's name — is looked up here first; compound surnames before single ones.
# Readings are toneless syllables separated by spaces; only their initials are used.
SURNAME_READINGS: dict[str, str] = {
    # compound surnames
    "尉迟": "yu chi", "万俟": "mo qi", "单于": "chan yu", "长孙": "zhang sun", "澹台": "tan tai",
    "乐正": "yue zheng",
    # single surnames
    "单": "shan", "解": "xie", "仇": "qiu", "区": "ou", "查": "zha", "朴": "piao", "覃": "qin",
    "乐": "yue", "缪": "miao", "盖": "ge", "召": "shao", "种": "chong", "秘": "bi", "繁": "po",
    "员": "yun", "折": "she", "翟": "zhai", "尉": "yu", "能": "nai", "句": "gou", "曾": "zeng",
    "重": "chong", "隗": "wei", "蕃": "pi", "祭": "zhai", "佴": "nai", "便": "pian", "长": "chang",
    "藏": "zang", "过": "guo", "那": "na", "柏": "bai", "薄": "bo", "纪": "ji", "沈": "shen",
}


@functools.lru_cache(maxsize=262_144)  # bulk loads repeat names; a miss costs ~25 µs
def _plain_initials(text: str) -> str:
    if not text:
        return ""
    pieces = pypinyin.lazy_pinyin(text, style=pypinyin.Style.FIRST_LETTER)
    return "".join(ch.upper() for piece in pieces for ch in piece if ch.isascii() and ch.isalnum())


def pinyin_initials(name: str, *, person: bool = True) -> str:
    """Upper-case pinyin initials for quick search: 张三 → ZS, 单雄信 → SXX, 曾国藩 → ZGF.

    ASCII letters and digits are kept (full-width ones folded), anything else is dropped. With
    ``person`` (the default) a leading surname from ``SURNAME_READINGS`` takes its surname reading;
    pass ``person=False`` for organisations (乐山水务 → LSSW, not YSSW). Surnames missing from that
    table get pypinyin's everyday reading.
    """
    text = unicodedata.normalize("NFKC", name or "").strip()
    if person:
        for size in (2, 1):
            reading = SURNAME_READINGS.get(text[:size]) if len(text) >= size else None
            if reading is not None:
                surname = "".join(syllable[0] for syllable in reading.split()).upper()
                return surname + _plain_initials(text[size:])
    return _plain_initials(text)


# --------------------------------------------------------------------------------------------------
# Customer numbers (户号)
# --------------------------------------------------------------------------------------------------

CUSTOMER_NO_MAX_LENGTH = 24  # Customer.customer_no max_length
_PREFIX_RE = re.compile(r"^[A-Z0-9]{0,12}$")


def luhn_check_digit(digits: str) -> str:
    """The Luhn (mod 10) digit to append to ``digits``; detects every single-digit error."""
    if not digits or not digits.isascii() or not digits.isdigit():
        raise DomainError("digits", _("%(digits)s is not a string of digits"), digits=digits)
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 0:  # the rightmost digit sits next to the check digit: doubled
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class NumberingRule:
    """How customer numbers look: ``prefix`` + sequence zero-padded to ``width`` + Luhn digit.

    ``NumberingRule("33")`` numbers customer 42 as ``"3300000000424"``. The check digit covers the
    sequence digits only (the prefix is fixed and checked literally).
    """

    prefix: str
    width: int = 10
    check_digit: bool = True

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise DomainError("prefix", _("%(prefix)s is not a valid prefix: use up to 12 upper-case letters "
                                          "or digits"), prefix=self.prefix)
        if not 1 <= self.width <= 20:
            raise DomainError("width", _("width must be 1-20 digits, not %(width)s"), width=self.width)
        if self.length > CUSTOMER_NO_MAX_LENGTH:
            raise DomainError("width", _("numbers would be %(length)s characters long; at most %(max)s fit"),
                              length=self.length, max=CUSTOMER_NO_MAX_LENGTH)

    @property
    def length(self) -> int:
        return len(self.prefix) + self.width + (1 if self.check_digit else 0)

    @property
    def capacity(self) -> int:
        """The largest sequence number that fits."""
        return int("9" * self.width)

    def format(self, seq: int) -> str:
        if seq < 0:
            raise DomainError("customer_no", _("sequence %(seq)s must not be negative"), seq=seq)
        if seq > self.capacity:
            raise DomainError("customer_no", _("sequence %(seq)s does not fit in %(width)s digits"),
                              seq=seq, width=self.width)
        body = f"{seq:0{self.width}d}"
        return self.prefix + body + (luhn_check_digit(body) if self.check_digit else "")

    def parse(self, value: str) -> int:
        """The sequence number in a customer number, or ``DomainError`` on field ``customer_no``."""
        text = "".join(unicodedata.normalize("NFKC", value or "").split()).upper()
        field = "customer_no"
        if not text:
            raise DomainError(field, _("is required"))
        if not text.startswith(self.prefix):
            raise DomainError(field, _("%(value)s does not start with %(prefix)s"), value=value,
                              prefix=self.prefix)
        if len(text) != self.length:
            raise DomainError(field, _("%(value)s should have %(length)s characters"), value=value,
                              length=self.length)
        rest = text[len(self.prefix):]
        if not rest.isascii() or not rest.isdigit():
            raise DomainError(field, _("%(value)s should end in %(count)s digits"), value=value,
                              count=len(rest))
        body = rest[:self.width]
        if self.check_digit:
            expected = luhn_check_digit(body)
            if rest[-1] != expected:
                raise DomainError(field, _("%(value)s is mistyped: its check digit should be %(expected)s"),
                                  value=value, expected=expected)
        return int(body)


# --- what a clerk typed into the search box --------------------------------------------------


def search_kind(q: str) -> str:
    """Guess what a clerk typed: 11-digit mobile, 18-char ID, letters = initials, digits = number."""
    value = q.strip()
    compact = re.sub(r"[\s-]", "", value)
    if re.fullmatch(r"(\+?86)?1[3-9]\d{9}", compact) or re.fullmatch(r"0\d{9,11}", compact):
        return "phone"
    if re.fullmatch(r"\d{17}[\dXx]", value):
        return "id_number"
    if re.fullmatch(r"[A-Za-z]{1,10}", value):
        return "initials"
    if re.fullmatch(r"[A-Z]{2,}\d+", value.upper()) and not value.isdigit():
        return "account"
    if value.isdigit():
        return "number"
    return "name"
