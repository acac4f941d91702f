"""Routing rules decided without a database."""

from ucis.service.routing import OrderFacts, RoutingRule, route

RULES = [
    RoutingRule(1, "district repairs", 10, target_id=100, order_types=("repair",), area_path="/1/"),
    RoutingRule(2, "community repairs", 10, target_id=200, order_types=("repair",), area_path="/1/5/"),
    RoutingRule(3, "gas leaks", 5, target_id=300, order_types=("repair",), commodity="gas", skill="gas_leak"),
    RoutingRule(4, "complaints", 20, target_id=400, order_types=("complaint",), skill="complaints"),
    RoutingRule(5, "everything else", 100, target_id=500),
]


def test_the_most_specific_area_wins_at_equal_priority():
    decision = route(OrderFacts("repair", "water", "/1/5/9/"), RULES)
    assert (decision.rule_id, decision.target_id) == (2, 200)
    assert "community repairs" in decision.explanation


def test_priority_beats_area_and_commodity_must_match():
    assert route(OrderFacts("repair", "gas", "/1/5/9/"), RULES).target_id == 300
    assert route(OrderFacts("repair", "gas", "/1/5/9/"), RULES).skill == "gas_leak"
    assert route(OrderFacts("repair", "water", "/2/"), RULES).target_id == 500
    # A rule for one commodity never takes an order whose commodity is unknown.
    assert route(OrderFacts("repair", "", "/2/"), RULES).target_id == 500


def test_types_and_fallback():
    assert route(OrderFacts("complaint"), RULES).target_id == 400
    assert route(OrderFacts("consultation"), RULES).target_id == 500
    decision = route(OrderFacts("complaint"), [r for r in RULES if r.rule_id != 5 and r.rule_id != 4])
    assert decision.target_id is None and "dispatcher" in decision.explanation
