"""Extra-field and attachment rules, without the database (CUS-4)."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ucis.customers import documents, extrafields
from ucis.customers.extrafields import FieldDefinition, clean_value, clean_values, validate_definition
from ucis.kernel.errors import DomainError


def fields(exc: DomainError) -> dict[str, str]:
    return {p.field: p.reason for p in exc.problems}


def problems_of(definition: FieldDefinition) -> dict[str, str]:
    return {p.field: p.reason for p in extrafields.definition_problems(definition)}


# --- definitions ------------------------------------------------------------------------------


def test_a_good_definition_is_tidied():
    tidy = validate_definition(FieldDefinition(code=" meter_box ", label=" 表箱位置 ", field_type="choice",
                                               choices=(" 室内", "室外 ")))
    assert (tidy.code, tidy.label, tidy.choices) == ("meter_box", "表箱位置", ("室内", "室外"))


@pytest.mark.parametrize("definition, field, reason", [
    (FieldDefinition("Meter-Box", "x", "text"), "code", "lower-case"),
    (FieldDefinition("1abc", "x", "text"), "code", "lower-case"),
    (FieldDefinition("ok", " ", "text"), "label", "required"),
    (FieldDefinition("ok", "x", "colour"), "field_type", "unknown type colour"),
    (FieldDefinition("ok", "x", "choice"), "choices", "at least one"),
    (FieldDefinition("ok", "x", "choice", choices=("a", "a")), "choices", "only once"),
    (FieldDefinition("ok", "x", "text", choices=("a",)), "choices", "only a choice field"),
    (FieldDefinition("ok", "x", "integer", pattern=r"\d+"), "pattern", "only a text field"),
    (FieldDefinition("ok", "x", "text", pattern="(unclosed"), "pattern", "not a valid regular expression"),
    (FieldDefinition("ok", "x", "text", pattern="(a+)+$"), "pattern", "take forever"),
    (FieldDefinition("ok", "x", "text", pattern=r"(\w*)*"), "pattern", "take forever"),
    (FieldDefinition("ok", "x", "text", pattern="a" * 201), "pattern", "at most 200"),
    (FieldDefinition("ok", "x", "integer", min_value="1.5"), "min_value", "whole number"),
    (FieldDefinition("ok", "x", "integer", min_value="10", max_value="1"), "max_value", "below the minimum"),
    (FieldDefinition("ok", "x", "date", max_value="2026-13-01"), "max_value", "a date"),
    (FieldDefinition("ok", "x", "boolean", min_value="1"), "min_value", "no minimum or maximum"),
    (FieldDefinition("ok", "x", "decimal", min_value="NaN"), "min_value", "a number"),
])
def test_bad_definitions_name_the_attribute(definition, field, reason):
    found = problems_of(definition)
    assert field in found and reason in found[field], found
    with pytest.raises(DomainError):
        validate_definition(definition)


def test_safe_patterns_are_accepted():
    for pattern in (r"[A-Z]{2}\d{6}", r"(ab)+", r"\d{3}-\d{4}", r"(?:0\d{2,3}-)?\d{7,8}"):
        assert problems_of(FieldDefinition("ok", "x", "text", pattern=pattern)) == {}


# --- values -----------------------------------------------------------------------------------

TEXT = FieldDefinition("contract_no", "合同号", "text", pattern=r"HT\d{4}", max_value="6")
NUMBER = FieldDefinition("floors", "楼层", "integer", min_value="1", max_value="99")
AMOUNT = FieldDefinition("guarantee", "保证金", "decimal", min_value="0", max_value="100000")
DAY = FieldDefinition("inspected", "检查日期", "date", min_value="2000-01-01")
FLAG = FieldDefinition("pets", "有宠物", "boolean")
CHOICE = FieldDefinition("box", "表箱", "choice", required=True, choices=("室内", "室外"))
ALL = [TEXT, NUMBER, AMOUNT, DAY, FLAG, CHOICE]


@pytest.mark.parametrize("definition, raw, stored", [
    (TEXT, " HT1234 ", "HT1234"),
    (NUMBER, "12", 12), (NUMBER, 12, 12), (NUMBER, "１２", 12), (NUMBER, 12.0, 12),
    (AMOUNT, "12.50", "12.5"), (AMOUNT, Decimal("100.00"), "100"), (AMOUNT, 0.1, "0.1"), (AMOUNT, "1,200", "1200"),
    (AMOUNT, "0.00", "0"),
    (DAY, "2026-11-23", "2026-11-23"), (DAY, date(2026, 1, 2), "2026-01-02"),
    (FLAG, "yes", True), (FLAG, "是", True), (FLAG, False, False), (FLAG, "0", False),
    (CHOICE, "室外", "室外"),
])
def test_values_are_stored_in_one_canonical_json_form(definition, raw, stored):
    assert clean_value(definition, raw) == stored


@pytest.mark.parametrize("definition, raw, reason", [
    (TEXT, "HT12", "expected form"), (TEXT, "HT123456", "at most 6 characters"), (TEXT, 5, "must be text"),
    (NUMBER, "0", "at least 1"), (NUMBER, "100", "at most 99"), (NUMBER, "1.5", "whole number"),
    (NUMBER, True, "whole number"), (NUMBER, "9" * 19, "18 digits"),
    (AMOUNT, "-1", "at least 0"), (AMOUNT, "abc", "a number"), (AMOUNT, "Infinity", "a number"),
    (AMOUNT, "1e30", "at most"),
    (DAY, "23/11/2026", "a date"), (DAY, "1999-12-31", "at least 2000-01-01"),
    (FLAG, "maybe", "yes or no"),
    (CHOICE, "屋顶", "not one of 室内, 室外"),
])
def test_bad_values_name_the_extra_field(definition, raw, reason):
    with pytest.raises(DomainError) as caught:
        clean_value(definition, raw)
    problems = fields(caught.value)
    assert list(problems) == [f"extra.{definition.code}"] and reason in problems[f"extra.{definition.code}"]


def test_clean_values_reports_every_problem_at_once():
    with pytest.raises(DomainError) as caught:
        clean_values(ALL, {"floors": "0", "colour": "red", "pets": "yes"})
    problems = fields(caught.value)
    assert set(problems) == {"extra.floors", "extra.colour", "extra.box"}
    assert "no extra field colour" in problems["extra.colour"] and problems["extra.box"] == "is required"


def test_clean_values_merges_clears_and_keeps_other_fields():
    current = {"box": "室内", "floors": 3, "other_company_field": "x"}
    assert clean_values(ALL, {"floors": "", "pets": "no"}, current=current) == {
        "box": "室内", "pets": False, "other_company_field": "x"}
    with pytest.raises(DomainError) as caught:
        clean_values(ALL, {"box": None}, current=current)
    assert fields(caught.value) == {"extra.box": "is required"}


def test_query_values_convert_like_stored_values():
    assert extrafields.query_values(ALL, {"guarantee": "12.50", "pets": "1", "box": ""}) == {
        "guarantee": "12.5", "pets": True}
    with pytest.raises(DomainError) as caught:
        extrafields.query_values(ALL, {"floors": "many"})
    assert list(fields(caught.value)) == ["extra.floors"]


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**9, max_value=10**9))
def test_decimal_spellings_of_one_number_are_stored_alike(value):
    definition = FieldDefinition("amount", "金额", "decimal")
    stored = clean_value(definition, value)
    assert isinstance(stored, str) and Decimal(stored) == value
    assert clean_value(definition, f"{value:.6f}") == stored  # trailing zeros do not matter
    assert clean_value(definition, stored) == stored  # idempotent


@given(st.integers(min_value=-10**17, max_value=10**17))
def test_integers_round_trip(value):
    assert clean_value(FieldDefinition("n", "n", "integer"), str(value)) == value


@given(st.text(max_size=50))
def test_text_never_crashes_a_typed_field(text):
    for definition in ALL:
        try:
            clean_value(definition, text)
        except DomainError as exc:
            assert [p.field for p in exc.problems] == [f"extra.{definition.code}"]


# --- attachments ------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
PDF = b"%PDF-1.7\n"


@pytest.mark.parametrize("head, content_type", [
    (PDF, "application/pdf"), (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"), (PNG, "image/png"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"), (b"II*\x00\x08\x00", "image/tiff"), (b"MM\x00*\x00", "image/tiff"),
])
def test_types_are_sniffed_from_content(head, content_type):
    found = documents.sniff_type(head)
    assert found is not None and found.content_type == content_type


@pytest.mark.parametrize("head", [b"<html><script>alert(1)</script>", b"MZ\x90\x00\x03", b"PK\x03\x04", b"GIF89a",
                                  b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"<svg xmlns="])
def test_other_content_is_refused_whatever_its_name(head):
    assert documents.sniff_type(head) is None
    with pytest.raises(DomainError) as caught:
        documents.check_upload(name="scan.jpg", size=max(len(head), 1), head=head, max_bytes=1000, kind="photo")
    assert list(fields(caught.value)) == ["file"] and "judged by its content" in fields(caught.value)["file"]


def test_a_png_named_pdf_is_a_png():
    assert documents.check_upload(name="contract.pdf", size=len(PNG), head=PNG, max_bytes=100, kind="contract") \
        == documents.PNG


def test_size_and_kind_limits():
    with pytest.raises(DomainError) as caught:
        documents.check_upload(name="a.pdf", size=10 * 1024 * 1024 + 1, head=PDF, max_bytes=10 * 1024 * 1024,
                               kind="contract")
    assert fields(caught.value) == {"file": "the file is 10 MB; at most 10 MB may be attached"}
    with pytest.raises(DomainError) as caught:
        documents.check_upload(name="a.pdf", size=0, head=b"", max_bytes=100, kind="contract")
    assert fields(caught.value) == {"file": "the file is empty"}
    with pytest.raises(DomainError) as caught:
        documents.check_upload(name="a.pdf", size=10, head=PDF, max_bytes=100, kind="selfie")
    assert list(fields(caught.value)) == ["kind"]


def test_file_names_lose_directories_and_control_characters():
    assert documents.clean_file_name("C:\\Users\\张三\\身份证.jpg") == "身份证.jpg"
    assert documents.clean_file_name("../../etc/passwd\x00\n") == "passwd"
    assert documents.clean_file_name("") == "file"
    long = documents.clean_file_name("x" * 300 + ".pdf")
    assert len(long) == 200 and long.endswith(".pdf")
    assert documents.human_size(1536) == "1.5 KB" and documents.human_size(12) == "12 bytes"
