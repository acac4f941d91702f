"""Where a work order goes (派单): routing rules as data, decided here without a database.

A rule matches an order when its order types (empty: any), commodity (blank: any) and address
area (none: anywhere; else the order's premise must lie in the area's subtree — a path prefix)
all match. The first match wins by priority (lowest number), then by the most specific area
(longest path), then by rule id — so a rule for one community beats the district's rule of the
same priority without anyone having to number them carefully.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ucis.kernel.errors import gettext_noop as _
from ucis.kernel.errors import render_reason


@dataclass(frozen=True)
class RoutingRule:
    rule_id: int
    name: str
    priority: int
    target_id: int
    order_types: tuple[str, ...] = ()
    commodity: str = ""
    area_path: str = ""
    skill: str = ""


@dataclass(frozen=True)
class OrderFacts:
    order_type: str
    commodity: str = ""
    area_path: str = ""  # the premise's address-area path, "" when the caller gave no known address


@dataclass(frozen=True)
class RouteDecision:
    rule_id: int | None
    target_id: int | None
    skill: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def explanation(self) -> str:
        return render_reason(self.template, self.params)


def rule_matches(rule: RoutingRule, facts: OrderFacts) -> bool:
    if rule.order_types and facts.order_type not in rule.order_types:
        return False
    if rule.commodity and facts.commodity and rule.commodity != facts.commodity:
        return False
    if rule.commodity and not facts.commodity:
        return False
    if rule.area_path and not facts.area_path.startswith(rule.area_path):
        return False
    return True


def route(facts: OrderFacts, rules: Sequence[RoutingRule]) -> RouteDecision:
    """The queue for an order, with the rule that chose it; no match leaves it with the
    dispatcher (target None)."""
    matching = [r for r in rules if rule_matches(r, facts)]
    if not matching:
        return RouteDecision(None, None, "", _("no routing rule matches; left for a dispatcher"))
    best = min(matching, key=lambda r: (r.priority, -len(r.area_path), r.rule_id))
    return RouteDecision(best.rule_id, best.target_id, best.skill,
                         _("rule %(rule)s (priority %(priority)s)"), {"rule": best.name, "priority": best.priority})
