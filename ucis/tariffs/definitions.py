"""Tariff definition files (TAR-1, TAR-2): a tariff and its versions as a YAML or JSON document that
a utility keeps in version control and reviews like code. Pure: text in, ``TariffDefinition`` out
(or every problem, each at its path such as ``versions[1].components[0].blocks[2].upto``), and back.

The format (docs/tariff-format.md has a full example)::

    code: LJW-RES                       # unique tariff code
    name: 居民生活用水
    company: LJW                        # company code
    commodity: water                    # water | gas | electricity
    customer_types: [resident]          # price types this tariff serves
    versions:
      - version: "2026"
        active_from: 2026-01-01
        active_to: null                 # exclusive; null = open
        components:
          - {kind: ladder, code: water, label: 水费, basis: year,
             blocks: [{upto: 216, price: "2.90"}, {upto: 300, price: "3.85"}, {price: "6.70"}],
             widen_per_person: [54, 21], base_residents: 4}
          - {kind: flat, code: sewage, label: 污水处理费, price: "0.95", receivable: "ON_BEHALF:SEWAGE"}
          - {kind: fixed, code: meter, label: 水表维护费, amount: "2.00", per: meter}
          - {kind: minimum, code: minimum, label: 最低收费, amount: "5.00", of: [water]}

Amounts, prices and volumes are exact decimals; YAML numbers with a point (``2.90``) and dates are
read as written, never through a binary float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ucis.kernel.errors import DomainError, FieldProblem
from ucis.kernel.errors import gettext_noop as _
from ucis.tariffs import rating

COMMODITIES = ("water", "gas", "electricity")
KINDS = ("ladder", "flat", "fixed", "minimum")


@dataclass(frozen=True)
class TariffDefinition:
    code: str
    name: str
    company: str
    commodity: str
    customer_types: tuple[str, ...]
    versions: tuple[rating.Version, ...]


class _Reader:
    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []

    def fail(self, path: str, template: str, **params: Any) -> None:
        self.problems.append(FieldProblem(path, template, params))

    def text(self, doc: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str:
        value = doc.get(key)
        if value is None or str(value).strip() == "":
            if required:
                self.fail(f"{path}{key}", _("is required"))
            return ""
        return str(value).strip()

    def decimal(self, value: Any, path: str) -> Decimal | None:
        if isinstance(value, bool) or value is None:
            self.fail(path, _("is required as a number"))
            return None
        try:
            result = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation:
            self.fail(path, _("%(value)s is not a number"), value=value)
            return None
        if not result.is_finite():
            self.fail(path, _("%(value)s is not a number"), value=value)
            return None
        return result

    def day(self, value: Any, path: str, *, required: bool = True) -> date | None:
        if value is None:
            if required:
                self.fail(path, _("is required (YYYY-MM-DD)"))
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(path, _("%(value)s is not a date (YYYY-MM-DD)"), value=value)
            return None

    def guard(self, path: str, build: Any, *, code: str = "") -> Any:
        """Run a constructor of the rating module, reporting its problems under ``path`` (the
        rating module names a component's fields ``<code>.<field>``; the file path replaces that)."""
        try:
            return build()
        except DomainError as err:
            for p in err.problems:
                name = p.field.removeprefix(f"{code}.") if code else p.field
                self.problems.append(p.at(f"{path}.{name}" if name != "__all__" else path))
            return None


def _blocks(r: _Reader, raw: Any, path: str) -> tuple[rating.Block, ...] | None:
    if not isinstance(raw, list) or not raw:
        r.fail(path, _("give the blocks as a list, the last one without an upper bound"))
        return None
    blocks = []
    for n, item in enumerate(raw):
        if not isinstance(item, Mapping):
            r.fail(f"{path}[{n}]", _("a block is {upto, price}"))
            return None
        price = r.decimal(item.get("price"), f"{path}[{n}].price")
        upto = None if item.get("upto") is None else r.decimal(item.get("upto"), f"{path}[{n}].upto")
        if price is None:
            return None
        blocks.append(rating.Block(upto, price))
    return tuple(blocks)


def _component(r: _Reader, raw: Any, path: str) -> rating.Component | None:
    if not isinstance(raw, Mapping):
        r.fail(path, _("a component is a mapping with a kind"))
        return None
    kind = raw.get("kind")
    if kind not in KINDS:
        r.fail(f"{path}.kind", _("unknown component kind %(kind)s; expected one of %(expected)s"), kind=kind,
               expected=", ".join(KINDS))
        return None
    code, label = r.text(raw, "code", f"{path}."), r.text(raw, "label", f"{path}.")
    receivable = str(raw.get("receivable") or rating.RECEIVABLE)
    if kind in ("ladder", "flat"):
        blocks: tuple[rating.Block, ...] | None
        if kind == "flat":
            price = r.decimal(raw.get("price"), f"{path}.price")
            blocks = (rating.Block(None, price),) if price is not None else None
        else:
            blocks = _blocks(r, raw.get("blocks"), f"{path}.blocks")
        seasons = []
        for n, season in enumerate(raw.get("seasons") or []):
            months = season.get("months") if isinstance(season, Mapping) else None
            season_blocks = _blocks(r, season.get("blocks") if isinstance(season, Mapping) else None,
                                    f"{path}.seasons[{n}].blocks")
            if not isinstance(months, list) or season_blocks is None:
                r.fail(f"{path}.seasons[{n}]", _("a season is {months: [..], blocks: [..]}"))
                continue
            seasons.append(rating.Season(frozenset(int(m) for m in months), season_blocks))
        widen = [r.decimal(w, f"{path}.widen_per_person[{n}]") for n, w in enumerate(raw.get("widen_per_person") or [])]
        if blocks is None or not code or any(w is None for w in widen):
            return None
        return r.guard(path, lambda: rating.Charge(
            code, label, blocks, basis=str(raw.get("basis") or "period"), register=str(raw.get("register") or "total"),
            receivable=receivable, seasons=tuple(seasons), widen_per_person=tuple(w for w in widen if w is not None),
            base_residents=int(raw.get("base_residents") or 0)), code=code)
    amount = r.decimal(raw.get("amount"), f"{path}.amount")
    if amount is None or not code:
        return None
    if kind == "fixed":
        sizes = {}
        for size, value in (raw.get("by_size") or {}).items():
            parsed = r.decimal(value, f"{path}.by_size.{size}")
            if parsed is not None:
                sizes[str(size)] = parsed
        return r.guard(path, lambda: rating.FixedCharge(code, label, amount, per=str(raw.get("per") or "account"),
                                                        by_size=sizes, receivable=receivable), code=code)
    return r.guard(path, lambda: rating.MinimumCharge(code, label, amount, of=tuple(raw.get("of") or ())),
                   code=code)


def parse_tariff(doc: Any) -> TariffDefinition:
    """A tariff document (already decoded from YAML/JSON) checked completely: every problem at once."""
    r = _Reader()
    if not isinstance(doc, Mapping):
        raise DomainError("__all__", _("a tariff file holds one mapping (code, name, company, commodity, versions)"))
    code, name, company = r.text(doc, "code", ""), r.text(doc, "name", ""), r.text(doc, "company", "")
    commodity = r.text(doc, "commodity", "")
    if commodity and commodity not in COMMODITIES:
        r.fail("commodity", _("unknown commodity %(value)s"), value=commodity)
    types = doc.get("customer_types") or []
    if not isinstance(types, list) or not types:
        r.fail("customer_types", _("name at least one customer type this tariff serves"))
        types = []
    versions = []
    raw_versions = doc.get("versions")
    if not isinstance(raw_versions, list) or not raw_versions:
        r.fail("versions", _("a tariff needs at least one version"))
        raw_versions = []
    for n, raw in enumerate(raw_versions):
        path = f"versions[{n}]"
        if not isinstance(raw, Mapping):
            r.fail(path, _("a version is a mapping"))
            continue
        label = r.text(raw, "version", f"{path}.")
        start = r.day(raw.get("active_from"), f"{path}.active_from")
        end = r.day(raw.get("active_to"), f"{path}.active_to", required=False)
        comps_raw = raw.get("components")
        if not isinstance(comps_raw, list) or not comps_raw:
            r.fail(f"{path}.components", _("a version needs at least one component"))
            continue
        comps = [_component(r, c, f"{path}.components[{k}]") for k, c in enumerate(comps_raw)]
        if start is None or not label or any(c is None for c in comps):
            continue
        version = r.guard(path, lambda label=label, start=start, end=end, comps=comps: rating.Version(
            code, label, start, end, tuple(c for c in comps if c is not None)))
        if version is not None:
            versions.append(version)
    if not r.problems:
        r.guard("versions", lambda: rating.check_versions(versions))
    if r.problems:
        raise DomainError(problems=r.problems)
    return TariffDefinition(code, name, company, commodity, tuple(str(t) for t in types),
                            tuple(sorted(versions, key=lambda v: v.active_from)))


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def _blocks_out(blocks: Sequence[rating.Block]) -> list[dict[str, Any]]:
    return [({"upto": _num(b.upto)} if b.upto is not None else {}) | {"price": str(b.price)} for b in blocks]


def dump_tariff(defn: TariffDefinition) -> dict[str, Any]:
    """The document ``parse_tariff`` reads back to the same definition."""
    versions = []
    for v in defn.versions:
        comps: list[dict[str, Any]] = []
        for c in v.components:
            if isinstance(c, rating.Charge):
                flat = len(c.blocks) == 1 and not c.seasons and not c.widen_per_person
                item: dict[str, Any] = {"kind": "flat" if flat else "ladder", "code": c.code, "label": c.label}
                if flat:
                    item["price"] = str(c.blocks[0].price)
                else:
                    item |= {"basis": c.basis, "blocks": _blocks_out(c.blocks)}
                    if c.seasons:
                        item["seasons"] = [{"months": sorted(s.months), "blocks": _blocks_out(s.blocks)}
                                           for s in c.seasons]
                    if c.widen_per_person:
                        item |= {"widen_per_person": [_num(w) for w in c.widen_per_person],
                                 "base_residents": c.base_residents}
                if c.register != "total":
                    item["register"] = c.register
            elif isinstance(c, rating.FixedCharge):
                item = {"kind": "fixed", "code": c.code, "label": c.label, "amount": str(c.amount), "per": c.per}
                if c.by_size:
                    item["by_size"] = {k: str(v) for k, v in c.by_size.items()}
            else:
                item = {"kind": "minimum", "code": c.code, "label": c.label, "amount": str(c.amount), "of": list(c.of)}
            if not isinstance(c, rating.MinimumCharge) and c.receivable != rating.RECEIVABLE:
                item["receivable"] = c.receivable
            comps.append(item)
        versions.append({"version": v.version, "active_from": v.active_from.isoformat(),
                         "active_to": v.active_to.isoformat() if v.active_to else None, "components": comps})
    return {"code": defn.code, "name": defn.name, "company": defn.company, "commodity": defn.commodity,
            "customer_types": list(defn.customer_types), "versions": versions}


def _yaml_load(text: str) -> Any:
    """YAML without implicit dates and floats: ``2026-13-01`` and ``2.90`` stay text, so they are
    checked (and read exactly) here instead of failing inside the decoder or losing a digit."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    dropped = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:float"}
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in dropped]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


def load_text(text: str, *, fmt: str = "yaml") -> TariffDefinition:
    """Decode a YAML or JSON tariff file and check it."""
    try:
        if fmt == "json":
            doc = json.loads(text)
        else:
            doc = _yaml_load(text)
    except Exception as exc:  # noqa: BLE001 - any decoder error is the file's fault, reported plainly
        raise DomainError("__all__", _("the file is not valid %(format)s: %(error)s"), format=fmt.upper(),
                          error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    return parse_tariff(doc)


def dump_text(defn: TariffDefinition, *, fmt: str = "yaml") -> str:
    doc = dump_tariff(defn)
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2)
    import yaml

    return str(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
