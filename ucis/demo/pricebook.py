"""The demo city's price book: one tariff file per company and customer group, as a utility would
keep them in version control (see docs/tariff-format.md). Pure data."""

from __future__ import annotations

_HEAD = """code: {code}
name: {name}
company: {company}
commodity: {commodity}
customer_types: [{types}]
versions:
  - version: "2024"
    active_from: 2024-01-01
    active_to: null
    components:
"""

_FILES = (
    ("LJW-RES", "居民生活用水", "LJW", "water", "resident", """\
      - kind: ladder
        code: water
        label: 水费
        basis: year
        blocks: [{upto: 216, price: "2.90"}, {upto: 300, price: "3.85"}, {price: "6.70"}]
        widen_per_person: [54, 21]
        base_residents: 4
      - {kind: flat, code: sewage, label: 污水处理费, price: "0.95", receivable: "ON_BEHALF:SEWAGE"}
      - {kind: flat, code: resource, label: 水资源费, price: "0.20", receivable: "ON_BEHALF:WATER_RESOURCE"}
"""),
    ("LJW-BIZ", "非居民用水", "LJW", "water", "non_resident, public, industrial", """\
      - {kind: flat, code: water, label: 水费, price: "4.10"}
      - {kind: flat, code: sewage, label: 污水处理费, price: "1.40", receivable: "ON_BEHALF:SEWAGE"}
      - {kind: fixed, code: meter, label: 水表维护费, amount: "5.00", per: meter, by_size: {DN50: "20.00"}}
"""),
    ("LJW-SPE", "特种行业用水", "LJW", "water", "special", """\
      - {kind: flat, code: water, label: 水费, price: "12.00"}
      - {kind: flat, code: sewage, label: 污水处理费, price: "1.40", receivable: "ON_BEHALF:SEWAGE"}
"""),
    ("LJE-RES", "居民生活用电", "LJE", "electricity", "resident", """\
      - kind: ladder
        code: power
        label: 电费
        basis: year
        blocks: [{upto: 2760, price: "0.538"}, {upto: 4800, price: "0.588"}, {price: "0.838"}]
"""),
    ("LJE-BIZ", "一般工商业用电", "LJE", "electricity", "non_resident, public, special, industrial", """\
      - {kind: flat, code: power, label: 电费, price: "0.72"}
"""),
    ("LJG-RES", "居民生活用气", "LJG", "gas", "resident", """\
      - kind: ladder
        code: gas
        label: 燃气费
        basis: year
        blocks: [{upto: 360, price: "2.80"}, {upto: 600, price: "3.36"}, {price: "4.20"}]
"""),
    ("LJG-BIZ", "非居民用气", "LJG", "gas", "non_resident, public, special, industrial", """\
      - {kind: flat, code: gas, label: 燃气费, price: "3.90"}
      - {kind: minimum, code: minimum, label: 最低收费, amount: "20.00", of: [gas]}
"""),
)


def price_book() -> list[str]:
    """The tariff files (YAML) of the demo companies."""
    return [_HEAD.format(code=code, name=name, company=company, commodity=commodity, types=types) + components
            for code, name, company, commodity, types, components in _FILES]
