"""Admin-defined extra fields (CUS-4): what a definition may say, and how raw input becomes a value.

Pure: definitions are plain dataclasses, values come in as whatever a form, a CSV cell or a JSON
body carries (strings, numbers, booleans, dates) and go out JSON-safe, in the one canonical form
that is stored and compared — so ``extra @> {"code": value}`` finds what was typed in another
form. Decimals are stored as strings (never floats: ``"12.5"`` stays 12.5), dates as ISO strings,
integers as JSON integers, booleans as JSON booleans, choices as the chosen string.

Problems name the field ``extra.<code>`` so forms and the API show them next to the input.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ucis.kernel.errors import DomainError, FieldProblem
from ucis.kernel.errors import gettext_noop as _

ENTITIES: tuple[str, ...] = ("customer", "premise")
FIELD_TYPES: tuple[str, ...] = ("text", "integer", "decimal", "date", "boolean", "choice")

CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_PATTERN_LENGTH = 200
MAX_TEXT_LENGTH = 1000
MAX_CHOICES = 100
MAX_CHOICE_LENGTH = 100
MAX_DECIMAL_DIGITS = 20
# A repeated group that itself repeats — (a+)+, (\w*)*, (x{2,}){3,} — can take exponential time
# to fail a match (ReDoS); such patterns are refused when the field is defined.
_NESTED_REPEAT_RE = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,?\d*\})\)(?:[+*]|\{\d*,\d*\})")

_TRUE = frozenset({"true", "1", "yes", "y", "on", "是", "对"})
_FALSE = frozenset({"false", "0", "no", "n", "off", "否", "不"})


@dataclass(frozen=True)
class FieldDefinition:
    """One extra field. Bounds are strings: numbers for integer/decimal, ISO dates for date, and
    the number of characters for text."""

    code: str
    label: str
    field_type: str
    required: bool = False
    choices: tuple[str, ...] = ()
    min_value: str = ""
    max_value: str = ""
    pattern: str = ""
    help_text: str = ""

    @property
    def key(self) -> str:
        return f"extra.{self.code}"


# --- definitions ------------------------------------------------------------------------------


def _bound(definition: FieldDefinition, raw: str, field_name: str) -> tuple[Any, list[FieldProblem]]:
    if not raw:
        return None, []
    kind = definition.field_type
    try:
        if kind == "integer":
            return int(raw), []
        if kind == "decimal":
            value = Decimal(raw)
            if not value.is_finite():
                raise InvalidOperation
            return value, []
        if kind == "date":
            return date.fromisoformat(raw), []
        if kind == "text":
            length = int(raw)
            if length < 0:
                raise ValueError
            return length, []
    except (ValueError, InvalidOperation):
        expected = {"integer": _("a whole number"), "decimal": _("a number"), "date": _("a date (YYYY-MM-DD)"),
                    "text": _("a number of characters")}[kind]
        return None, [FieldProblem(field_name, _("must be %(expected)s, got %(value)s"),
                                   {"expected": expected, "value": raw})]
    return None, [FieldProblem(field_name, _("a %(type)s field has no minimum or maximum"), {"type": kind})]


def check_pattern(pattern: str, *, field_name: str = "pattern") -> list[FieldProblem]:
    """Problems of a validation pattern: too long, not a regular expression, or prone to
    catastrophic backtracking."""
    if not pattern:
        return []
    if len(pattern) > MAX_PATTERN_LENGTH:
        return [FieldProblem(field_name, _("at most %(max)s characters"), {"max": MAX_PATTERN_LENGTH})]
    try:
        re.compile(pattern)
    except re.error as exc:
        return [FieldProblem(field_name, _("is not a valid regular expression: %(error)s"), {"error": str(exc)})]
    if _NESTED_REPEAT_RE.search(pattern):
        return [FieldProblem(field_name, _("a repeated group inside a repetition, like (a+)+, can take forever "
                                           "to check; simplify the pattern"))]
    return []


def definition_problems(definition: FieldDefinition) -> list[FieldProblem]:
    """Everything wrong with a definition, each problem naming the attribute."""
    problems: list[FieldProblem] = []
    if not CODE_RE.match(definition.code or ""):
        problems.append(FieldProblem("code", _("use 1–40 lower-case letters, digits and _, starting with a letter; "
                                               "got %(value)s"), {"value": definition.code}))
    if not (definition.label or "").strip():
        problems.append(FieldProblem("label", _("is required")))
    if definition.field_type not in FIELD_TYPES:
        problems.append(FieldProblem("field_type", _("unknown type %(type)s; expected one of %(expected)s"),
                                     {"type": definition.field_type, "expected": ", ".join(FIELD_TYPES)}))
        return problems
    if definition.field_type == "choice":
        choices = definition.choices
        if not choices:
            problems.append(FieldProblem("choices", _("a choice field needs at least one choice")))
        elif len(choices) > MAX_CHOICES:
            problems.append(FieldProblem("choices", _("at most %(max)s choices"), {"max": MAX_CHOICES}))
        elif any(not c.strip() or len(c) > MAX_CHOICE_LENGTH for c in choices):
            problems.append(FieldProblem("choices", _("each choice is 1–%(max)s characters"),
                                         {"max": MAX_CHOICE_LENGTH}))
        elif len(set(choices)) != len(choices):
            problems.append(FieldProblem("choices", _("each choice may appear only once")))
    elif definition.choices:
        problems.append(FieldProblem("choices", _("only a choice field has choices")))
    if definition.pattern and definition.field_type != "text":
        problems.append(FieldProblem("pattern", _("only a text field has a pattern")))
    else:
        problems.extend(check_pattern(definition.pattern))
    low, low_problems = _bound(definition, definition.min_value, "min_value")
    high, high_problems = _bound(definition, definition.max_value, "max_value")
    problems.extend(low_problems + high_problems)
    if low is not None and high is not None and low > high:
        problems.append(FieldProblem("max_value", _("must not be below the minimum %(min)s"),
                                     {"min": definition.min_value}))
    return problems


def validate_definition(definition: FieldDefinition) -> FieldDefinition:
    """The definition with its code, label and choices tidied, or ``DomainError``."""
    tidy = FieldDefinition(
        code=(definition.code or "").strip(), label=(definition.label or "").strip(),
        field_type=definition.field_type, required=definition.required,
        choices=tuple(c.strip() for c in definition.choices), min_value=(definition.min_value or "").strip(),
        max_value=(definition.max_value or "").strip(), pattern=definition.pattern or "",
        help_text=(definition.help_text or "").strip())
    problems = definition_problems(tidy)
    if problems:
        raise DomainError(problems=problems)
    return tidy


# --- values -----------------------------------------------------------------------------------


def is_blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _text(raw: Any) -> str:
    return unicodedata.normalize("NFKC", raw).strip() if isinstance(raw, str) else str(raw)


def canonical_decimal(value: Decimal) -> str:
    """``Decimal("12.50")`` → ``"12.5"``, ``Decimal("1E+2")`` → ``"100"``: one spelling per number."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _convert(definition: FieldDefinition, raw: Any) -> Any:
    """The canonical value of ``raw`` or a ``FieldProblem`` template (raised as ValueError args)."""
    kind = definition.field_type
    if kind == "text":
        if not isinstance(raw, str):
            raise ValueError(_("must be text"), {})
        text = raw.strip()
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(_("at most %(max)s characters"), {"max": MAX_TEXT_LENGTH})
        return text
    if kind == "integer":
        if isinstance(raw, bool) or isinstance(raw, float) and not raw.is_integer():
            raise ValueError(_("must be a whole number, got %(value)s"), {"value": raw})
        text = str(int(raw)) if isinstance(raw, int | float) else _text(raw).replace(",", "")
        if not re.fullmatch(r"[+-]?\d{1,18}", text):
            raise ValueError(_("must be a whole number of at most 18 digits, got %(value)s"), {"value": raw})
        return int(text)
    if kind == "decimal":
        if isinstance(raw, bool):
            raise ValueError(_("must be a number, got %(value)s"), {"value": raw})
        try:
            # str() of a float is its shortest round-trip spelling: 0.1 stays "0.1".
            value = raw if isinstance(raw, Decimal) else Decimal(_text(raw).replace(",", ""))
        except InvalidOperation:
            raise ValueError(_("must be a number, got %(value)s"), {"value": raw}) from None
        if not value.is_finite():
            raise ValueError(_("must be a number, got %(value)s"), {"value": raw})
        if len(value.normalize().as_tuple().digits) > MAX_DECIMAL_DIGITS or abs(value.adjusted()) > MAX_DECIMAL_DIGITS:
            raise ValueError(_("at most %(max)s digits"), {"max": MAX_DECIMAL_DIGITS})
        return value
    if kind == "date":
        if isinstance(raw, date):
            return raw
        try:
            return date.fromisoformat(_text(raw))
        except ValueError:
            raise ValueError(_("must be a date (YYYY-MM-DD), got %(value)s"), {"value": raw}) from None
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        word = _text(raw).lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(_("must be yes or no, got %(value)s"), {"value": raw})
    if kind == "choice":
        text = _text(raw)
        if text not in definition.choices:
            raise ValueError(_("%(value)s is not one of %(expected)s"),
                             {"value": raw, "expected": ", ".join(definition.choices)})
        return text
    raise ValueError(_("unknown type %(type)s; expected one of %(expected)s"),
                     {"type": kind, "expected": ", ".join(FIELD_TYPES)})


def _check_bounds(definition: FieldDefinition, value: Any) -> None:
    low, _p1 = _bound(definition, definition.min_value, "min_value")
    high, _p2 = _bound(definition, definition.max_value, "max_value")
    measure = len(value) if definition.field_type == "text" else value
    if low is not None and measure < low:
        if definition.field_type == "text":
            raise ValueError(_("at least %(min)s characters"), {"min": low})
        raise ValueError(_("must be at least %(min)s"), {"min": definition.min_value})
    if high is not None and measure > high:
        if definition.field_type == "text":
            raise ValueError(_("at most %(max)s characters"), {"max": high})
        raise ValueError(_("must be at most %(max)s"), {"max": definition.max_value})


def _json_value(definition: FieldDefinition, value: Any) -> Any:
    if definition.field_type == "decimal":
        return canonical_decimal(value)
    if definition.field_type == "date":
        return value.isoformat()
    return value


def clean_value(definition: FieldDefinition, raw: Any) -> Any:
    """The JSON-safe stored form of one non-blank value, or ``DomainError`` naming ``extra.<code>``."""
    try:
        value = _convert(definition, raw)
        if definition.field_type in ("text", "integer", "decimal", "date"):
            _check_bounds(definition, value)
        if definition.field_type == "text" and definition.pattern and not re.fullmatch(definition.pattern, value):
            raise ValueError(_("does not have the expected form"), {})
    except ValueError as exc:
        template, params = exc.args if len(exc.args) == 2 else (_("invalid"), {})
        raise DomainError(problems=[FieldProblem(definition.key, template, params)]) from None
    return _json_value(definition, value)


def clean_values(definitions: Iterable[FieldDefinition], raw: Mapping[str, Any], *,
                 current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The extra values after applying ``raw`` to ``current``: each given code is converted and
    checked (a blank removes it), unknown codes are refused, and every required field must end
    up with a value. Values of codes not among ``definitions`` (another company's fields, retired
    fields) are kept as they are. All problems are reported at once."""
    by_code = {d.code: d for d in definitions}
    result = dict(current or {})
    problems: list[FieldProblem] = []
    for code, value in raw.items():
        definition = by_code.get(code)
        if definition is None:
            problems.append(FieldProblem(f"extra.{code}", _("there is no extra field %(code)s"), {"code": code}))
            continue
        if is_blank(value):
            result.pop(code, None)
            continue
        try:
            result[code] = clean_value(definition, value)
        except DomainError as exc:
            problems.extend(exc.problems)
    reported = {p.field for p in problems}
    for definition in by_code.values():
        if definition.required and is_blank(result.get(definition.code)) and definition.key not in reported:
            problems.append(FieldProblem(definition.key, _("is required")))
    if problems:
        raise DomainError(problems=problems)
    return result


def query_values(definitions: Iterable[FieldDefinition], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Search criteria ``{code: typed text}`` → the stored forms to look for (blank criteria dropped)."""
    by_code = {d.code: d for d in definitions}
    wanted: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for code, value in raw.items():
        if is_blank(value):
            continue
        definition = by_code.get(code)
        if definition is None:
            problems.append(FieldProblem(f"extra.{code}", _("there is no extra field %(code)s"), {"code": code}))
            continue
        try:
            wanted[code] = _json_value(definition, _convert(definition, value))
        except ValueError as exc:
            template, params = exc.args if len(exc.args) == 2 else (_("invalid"), {})
            problems.append(FieldProblem(definition.key, template, params))
    if problems:
        raise DomainError(problems=problems)
    return wanted


def display_value(definition: FieldDefinition, value: Any) -> str:
    """A stored value as text for pages and CSV (booleans as 1/0 so exports re-import)."""
    if value is None:
        return ""
    if definition.field_type == "boolean" and isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
