"""Identity rules: resident ID numbers, phones, names, pinyin initials and customer numbers."""

import random
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ucis.customers import identity
from ucis.customers.identity import (
    NumberingRule,
    birth_date_and_sex,
    luhn_check_digit,
    make_resident_id,
    normalise_name,
    phone_kind,
    pinyin_initials,
    resident_id_check_char,
    validate_phone,
    validate_resident_id,
)
from ucis.kernel.errors import DomainError

TODAY = date(2024, 6, 1)
STANDARD_EXAMPLE = "11010519491231002X"  # the worked example of GB 11643-1999


def _problem(exc: pytest.ExceptionInfo[DomainError]) -> tuple[str, str]:
    problem = exc.value.problems[0]
    return problem.field, problem.reason


# --- resident identity numbers --------------------------------------------------------------------

def test_the_standard_example_is_valid_and_normalised():
    assert validate_resident_id(STANDARD_EXAMPLE, on_date=TODAY) == STANDARD_EXAMPLE
    assert validate_resident_id("11010519491231002x", on_date=TODAY) == STANDARD_EXAMPLE
    assert validate_resident_id(" 110105 19491231 002x ", on_date=TODAY) == STANDARD_EXAMPLE
    assert validate_resident_id("１１０１０５１９４９１２３１００２Ｘ", on_date=TODAY) == STANDARD_EXAMPLE


@pytest.mark.parametrize("number", ["440305198511202939", "11010519491231002X", "310101200001010018",
                                    "810000199001010019", "830000199001010012"])
def test_other_well_formed_numbers(number):
    assert validate_resident_id(number, on_date=TODAY) == number


def test_check_char():
    assert resident_id_check_char("11010519491231002") == "X"
    assert resident_id_check_char("44052418800101001") == "4"
    for bad in ("1101051949123100", "1101051949123100A", "110105194912310021"):
        with pytest.raises(DomainError):
            resident_id_check_char(bad)


def test_wrong_check_digit_names_the_right_one():
    with pytest.raises(DomainError) as exc:
        validate_resident_id("110105194912310021", on_date=TODAY)
    assert _problem(exc) == ("id_number", "check digit should be X, not 1")


def test_impossible_birth_dates():
    first17 = "11010519490230002"  # 30 February
    with pytest.raises(DomainError, match="19490230 .* not a real date"):
        validate_resident_id(first17 + resident_id_check_char(first17), on_date=TODAY)
    first17 = "11010519491301002"  # month 13
    with pytest.raises(DomainError, match="not a real date"):
        validate_resident_id(first17 + resident_id_check_char(first17), on_date=TODAY)


def test_birth_date_in_the_future_or_before_1900():
    tomorrow = make_resident_id(random.Random(0), birth=TODAY + timedelta(days=1))
    with pytest.raises(DomainError, match="in the future"):
        validate_resident_id(tomorrow, on_date=TODAY)
    born_today = make_resident_id(random.Random(0), birth=TODAY)
    assert validate_resident_id(born_today, on_date=TODAY) == born_today
    first17 = "11010518991231002"
    with pytest.raises(DomainError, match="before 1900"):
        validate_resident_id(first17 + resident_id_check_char(first17), on_date=TODAY)


@pytest.mark.parametrize("province", ["99", "00", "10", "16", "20", "24", "30", "38", "47", "55", "60",
                                      "66", "70", "72", "80", "84", "91"])
def test_unknown_province(province):
    first17 = province + "010519491231002"
    with pytest.raises(DomainError) as exc:
        validate_resident_id(first17 + resident_id_check_char(first17), on_date=TODAY)
    assert _problem(exc) == ("id_number", f"{province} is not a province code (first two digits of the ID number)")


def test_every_listed_province_is_accepted():
    codes = ([*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55),
              *range(61, 66), 71, 81, 82, 83])
    assert identity.PROVINCE_CODES == {str(c) for c in codes}
    for code in codes:
        number = make_resident_id(random.Random(code), region=f"{code}0100", birth=date(1980, 1, 1))
        assert validate_resident_id(number, on_date=TODAY) == number


@pytest.mark.parametrize("bad, message", [
    ("", "is required"),
    ("   ", "is required"),
    ("110105491231002", "old 15-digit number"),
    ("1101051949123100", "has 16"),
    ("11010519491231002XX", "has 19"),
    ("1101051949123100XX", "17 digits and a final digit or X"),
    ("11010519491231002Y", "17 digits and a final digit or X"),
    ("X10105194912310021", "17 digits and a final digit or X"),
    ("11010519491231002٣", "17 digits and a final digit or X"),  # Arabic-Indic digit
])
def test_malformed_numbers(bad, message):
    with pytest.raises(DomainError, match=message) as exc:
        validate_resident_id(bad, on_date=TODAY)
    assert exc.value.problems[0].field == "id_number"


def test_custom_field_name():
    with pytest.raises(DomainError) as exc:
        validate_resident_id("110105194912310021", on_date=TODAY, field="holder.id_number")
    assert exc.value.problems[0].field == "holder.id_number"


def test_birth_date_and_sex():
    assert birth_date_and_sex(STANDARD_EXAMPLE) == (date(1949, 12, 31), "F")
    assert birth_date_and_sex("11010519491231002x") == (date(1949, 12, 31), "F")
    assert birth_date_and_sex("440524188001010014") == (date(1880, 1, 1), "M")
    with pytest.raises(DomainError):
        birth_date_and_sex("1101051949023000")


def test_make_resident_id_with_explicit_sequence_and_sex():
    rng = random.Random(7)
    number = make_resident_id(rng, region="110105", birth=date(1949, 12, 31), seq=2)
    assert number == STANDARD_EXAMPLE
    assert make_resident_id(rng, birth=date(2000, 1, 1), seq=17).startswith("33010020000101017")
    assert birth_date_and_sex(make_resident_id(rng, birth=date(1990, 1, 1), sex="M"))[1] == "M"
    assert birth_date_and_sex(make_resident_id(rng, birth=date(1990, 1, 1), sex="F"))[1] == "F"
    for kwargs in ({"seq": 1000}, {"seq": -1}, {"region": "990100"}, {"region": "3301"},
                   {"region": "33010A"}, {"seq": 3, "sex": "F"}, {"sex": "X"}):
        with pytest.raises(DomainError):
            make_resident_id(rng, birth=date(1990, 1, 1), **kwargs)
    with pytest.raises(DomainError):
        make_resident_id(rng, birth=date(1899, 12, 31))


def test_make_resident_id_is_reproducible():
    assert (make_resident_id(random.Random(5), birth=date(1990, 5, 17))
            == make_resident_id(random.Random(5), birth=date(1990, 5, 17)))


@given(seed=st.integers(0, 2**32), birth=st.dates(date(1900, 1, 1), TODAY),
       region=st.sampled_from(["330100", "110105", "440305", "510104", "650102", "810000"]),
       sex=st.sampled_from([None, "M", "F"]))
def test_every_generated_id_validates(seed, birth, region, sex):
    number = make_resident_id(random.Random(seed), region=region, birth=birth, sex=sex)
    assert validate_resident_id(number, on_date=TODAY) == number
    born, number_sex = birth_date_and_sex(number)
    assert born == birth
    assert sex is None or number_sex == sex


@given(seq=st.integers(0, 999), birth=st.dates(date(1900, 1, 1), TODAY))
def test_sequence_parity_is_sex(seq, birth):
    number = make_resident_id(random.Random(0), birth=birth, seq=seq)
    assert number[14:17] == f"{seq:03d}"
    assert birth_date_and_sex(number)[1] == ("M" if seq % 2 else "F")


@given(seed=st.integers(0, 2**32), position=st.integers(0, 17), replacement=st.sampled_from("0123456789X"))
def test_any_single_character_change_is_refused(seed, position, replacement):
    number = make_resident_id(random.Random(seed), birth=date(1985, 6, 15))
    if number[position] == replacement:
        return
    changed = number[:position] + replacement + number[position + 1:]
    with pytest.raises(DomainError):
        validate_resident_id(changed, on_date=TODAY)


# --- phones ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected, kind", [
    ("13812345678", "13812345678", "mobile"),
    ("+86 138 1234 5678", "13812345678", "mobile"),
    ("+8613812345678", "13812345678", "mobile"),
    ("0086-138-1234-5678", "13812345678", "mobile"),
    ("8613812345678", "13812345678", "mobile"),
    ("138-1234-5678", "13812345678", "mobile"),
    ("１９９１２３４５６７８", "19912345678", "mobile"),
    ("0571-87654321", "0571-87654321", "landline"),
    ("057187654321", "0571-87654321", "landline"),
    ("(0571) 87654321", "0571-87654321", "landline"),
    ("0571-8765432", "0571-8765432", "landline"),
    ("010 12345678-123", "010-12345678-123", "landline"),
    ("010-12345678", "010-12345678", "landline"),
    ("021 6543 2100", "021-65432100", "landline"),
    ("0571-87654321转8001", "0571-87654321-8001", "landline"),
    ("0571-87654321 ext. 12", "0571-87654321-12", "landline"),
    ("+86 571 8765 4321", "0571-87654321", "landline"),
    ("0086 10 6512 3456", "010-65123456", "landline"),
    ("95598", "95598", "service"),
    ("96777", "96777", "service"),
    ("400-820-8820", "400-820-8820", "service"),
    ("8008208820", "800-820-8820", "service"),
])
def test_valid_phones(raw, expected, kind):
    assert validate_phone(raw) == expected
    assert validate_phone(expected) == expected  # canonical form is a fixed point
    assert phone_kind(raw) == kind


@pytest.mark.parametrize("raw, message", [
    ("", "is required"),
    ("  ", "is required"),
    ("12345", "not a mobile number"),
    ("23812345678", "not a mobile number"),
    ("12812345678", "second digit must be 3-9"),
    ("1381234567", "not a mobile number"),
    ("138123456789", "not a mobile number"),
    ("0571-123", "not a mobile number"),
    ("0571-87654321-1234567", "not a mobile number"),
    ("0571-07654321", "not a mobile number"),
    ("95598123", "not a mobile number"),
    ("+1 650 253 0000", "foreign number"),
    ("138abc45678", "digits, spaces and dashes"),
    ("电话13812345678", "digits, spaces and dashes"),
])
def test_invalid_phones(raw, message):
    with pytest.raises(DomainError, match=message) as exc:
        validate_phone(raw)
    assert exc.value.problems[0].field == "phone"


def test_phone_field_name_and_kind_of_bad_phone():
    with pytest.raises(DomainError) as exc:
        validate_phone("12345", field="contact_phone")
    assert exc.value.problems[0].field == "contact_phone"
    with pytest.raises(DomainError):
        phone_kind("12345")


@given(rest=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
       style=st.sampled_from(["{}", "+86{}", "+86 {}", "0086{}", "{0}-{1}-{2}"]))
def test_any_mobile_normalises_to_its_eleven_digits(rest, style):
    raw = style.format(rest[:3], rest[3:7], rest[7:]) if "{0}" in style else style.format(rest)
    assert validate_phone(raw) == rest
    assert phone_kind(raw) == "mobile"


# --- names and pinyin initials ----------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("  张三 ", "张三"),
    ("张　三", "张三"),
    ("　张三　", "张三"),
    ("张 三", "张三"),
    ("John   Smith", "John Smith"),
    ("John\tSmith\n", "John Smith"),
    ("John　Smith", "John Smith"),
    ("杭州 ABC 水务", "杭州 ABC 水务"),
    ("阿依古丽·买买提", "阿依古丽·买买提"),
    ("X" * 100, "X" * 100),
])
def test_names_are_normalised(raw, expected):
    assert normalise_name(raw) == expected


@pytest.mark.parametrize("raw, message", [
    ("", "is required"),
    ("   　 ", "is required"),
    ("X" * 101, "101 characters long"),
    ("张\x00三", "U\\+0000"),
    ("张\x07三", "U\\+0007"),
    ("张\u200b三", "U\\+200B"),
])
def test_bad_names(raw, message):
    with pytest.raises(DomainError, match=message) as exc:
        normalise_name(raw, field="holder_name")
    assert exc.value.problems[0].field == "holder_name"


@pytest.mark.parametrize("name, expected", [
    ("张三", "ZS"),
    ("李小龙", "LXL"),
    ("单雄信", "SXX"),
    ("曾国藩", "ZGF"),
    ("解缙", "XJ"),
    ("仇英", "QY"),
    ("尉迟恭", "YCG"),
    ("万俟卨", "MQX"),
    ("重庆燃气", "CQRQ"),
    ("ABC 12三", "ABC12S"),
    ("ｘ张", "XZ"),
    ("张三（户主）", "ZSHZ"),
    ("", ""),
    ("·—", ""),
])
def test_pinyin_initials(name, expected):
    assert pinyin_initials(name) == expected


def test_pinyin_initials_for_organisations_skip_surname_readings():
    assert pinyin_initials("乐山水务", person=False) == "LSSW"
    assert pinyin_initials("单县自来水", person=False).startswith("D")


def test_surname_table_readings_are_well_formed():
    for surname, reading in identity.SURNAME_READINGS.items():
        assert len(reading.split()) == len(surname), surname
        assert reading.replace(" ", "").isascii() and reading.replace(" ", "").isalpha()


# --- customer numbers -------------------------------------------------------------------------------

def test_luhn_known_values():
    assert luhn_check_digit("7992739871") == "3"  # the textbook example
    assert luhn_check_digit("0") == "0"
    assert luhn_check_digit("0000000042") == "2"
    for bad in ("", "12a", "１２"):
        with pytest.raises(DomainError):
            luhn_check_digit(bad)


def test_numbering_rule_format_and_parse():
    rule = NumberingRule("33")
    assert rule.format(42) == "3300000000422"
    assert rule.parse("3300000000422") == 42
    assert rule.parse(" 33 0000 0000 422 ") == 42
    assert NumberingRule("hz".upper(), width=6).format(7) == "HZ0000075"
    assert NumberingRule("HZ", width=6).parse("hz0000075") == 7
    plain = NumberingRule("W", width=4, check_digit=False)
    assert plain.format(12) == "W0012"
    assert plain.parse("W0012") == 12
    assert NumberingRule("").format(0) == "00000000000"
    assert rule.capacity == 9_999_999_999


@pytest.mark.parametrize("value, message", [
    ("", "is required"),
    ("4400000000422", "does not start with 33"),
    ("330000000042", "should have 13 characters"),
    ("33000000004222", "should have 13 characters"),
    ("33000000004A2", "should end in 11 digits"),
    ("3300000000421", "check digit should be 2"),
    ("3300000000432", "check digit should be"),
])
def test_numbering_rule_parse_refuses(value, message):
    with pytest.raises(DomainError, match=message) as exc:
        NumberingRule("33").parse(value)
    assert exc.value.problems[0].field == "customer_no"


def test_numbering_rule_overflow_and_configuration():
    with pytest.raises(DomainError, match="does not fit in 4 digits") as exc:
        NumberingRule("A", width=4).format(10_000)
    assert exc.value.problems[0].field == "customer_no"
    assert NumberingRule("A", width=4).format(9_999) == "A99994"
    with pytest.raises(DomainError, match="negative"):
        NumberingRule("A").format(-1)
    for kwargs in ({"prefix": "a-b"}, {"prefix": "户号"}, {"prefix": "X" * 13}, {"prefix": "A", "width": 0},
                   {"prefix": "A", "width": 21}, {"prefix": "X" * 12, "width": 12}):
        with pytest.raises(DomainError):
            NumberingRule(**kwargs)
    assert NumberingRule("X" * 12, width=11).length == 24


RULES = st.builds(NumberingRule, prefix=st.from_regex(r"[A-Z0-9]{0,4}", fullmatch=True),
                  width=st.integers(1, 12), check_digit=st.booleans())


@given(rule=RULES, data=st.data())
def test_parse_inverts_format(rule, data):
    seq = data.draw(st.integers(0, rule.capacity))
    number = rule.format(seq)
    assert len(number) == rule.length
    assert rule.parse(number) == seq


@given(seq=st.integers(0, 10**10 - 1), position=st.integers(0, 10), delta=st.integers(1, 9))
def test_luhn_detects_any_single_digit_change(seq, position, delta):
    rule = NumberingRule("33")
    number = rule.format(seq)
    index = len(rule.prefix) + position  # any digit of the sequence or the check digit itself
    changed = number[:index] + str((int(number[index]) + delta) % 10) + number[index + 1:]
    with pytest.raises(DomainError, match="check digit"):
        rule.parse(changed)


@given(digits=st.from_regex(r"[0-9]{1,20}", fullmatch=True), a=st.integers(0, 19), b=st.integers(0, 9))
def test_luhn_check_digit_changes_with_any_single_digit(digits, a, b):
    index = a % len(digits)
    if digits[index] == str(b):
        return
    changed = digits[:index] + str(b) + digits[index + 1:]
    assert luhn_check_digit(changed) != luhn_check_digit(digits)


# --- purity -------------------------------------------------------------------------------------------

def test_identity_imports_without_django():
    root = Path(__file__).resolve().parents[3]
    code = "import sys; sys.modules['django'] = None; import ucis.customers.identity; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "django" not in (root / "ucis" / "customers" / "identity.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("typed, kind", [
    ("13812345678", "phone"), ("138 1234 5678", "phone"), ("0571-87654321", "phone"),
    ("11010519491231002X", "id_number"), ("zs", "initials"), ("LJW00000012", "account"),
    ("100000000026", "number"), ("张三", "name"), ("幸福小区", "name"),
])
def test_search_kind_guesses_what_was_typed(typed, kind):
    assert identity.search_kind(typed) == kind
