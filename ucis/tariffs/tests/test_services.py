"""Tariff files stored as versions, bill simulation, policy discounts reaching accounts, policies."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from django.http import Http404

from ucis.kernel.errors import DomainError
from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services
from ucis.tariffs.models import DiscountMember, TariffVersion

from .test_definitions import example

pytestmark = pytest.mark.django_db


def tw_file(text=None):
    return (text or example()).replace("company: LJW", "company: TW")


def test_import_export_and_reimport_changes_nothing(org):
    outcome = services.tariff_import(actor=SYSTEM, text=tw_file(), reason="2025 price book")
    assert outcome.created and outcome.versions_added == ["2025", "2026-07"]
    exported = services.tariff_export(actor=SYSTEM, tariff_id=outcome.tariff.pk)
    again = services.tariff_import(actor=SYSTEM, text=exported, reason="re-import")
    assert not again.created and again.versions_added == [] and again.versions_ended == []
    assert TariffVersion.objects.count() == 2


def test_a_stored_version_cannot_change_but_an_open_one_can_end(org):
    services.tariff_import(actor=SYSTEM, text=tw_file(), reason="x")
    changed = tw_file().replace('{upto: 216, price: "3.05"}', '{upto: 216, price: "3.10"}')
    with pytest.raises(DomainError) as err:
        services.tariff_import(actor=SYSTEM, text=changed, reason="x")
    assert "version 2026-07 is already stored with other prices" in err.value.problems[0].reason
    next_year = tw_file().replace("    active_to: null\n", "    active_to: 2027-01-01\n") + (
        "  - version: \"2027\"\n    active_from: 2027-01-01\n    active_to: null\n    components:\n"
        "      - {kind: flat, code: water, label: 水费, price: \"3.50\"}\n")
    outcome = services.tariff_import(actor=SYSTEM, text=next_year, reason="2027 prices")
    assert outcome.versions_added == ["2027"] and outcome.versions_ended == ["2026-07"]
    dropped = next_year.replace("version: \"2025\"", "version: \"2025b\"")
    with pytest.raises(DomainError) as err:
        services.tariff_import(actor=SYSTEM, text=dropped, reason="x")
    assert {p.reason for p in err.value.problems} >= {"version 2025 is stored but missing from the file"}


def test_another_companys_tariff_is_invisible(org):
    outcome = services.tariff_import(actor=SYSTEM, text=tw_file(), reason="x")
    power_admin = _power_admin(org)
    with pytest.raises(DomainError, match="no company TW in your area"):
        services.tariff_import(actor=power_admin, text=tw_file(), reason="x")
    with pytest.raises(Http404):
        services.tariff_export(actor=power_admin, tariff_id=outcome.tariff.pk)


def _power_admin(org):
    from conftest import PASSWORD
    from ucis.org import services as org_services

    return org_services.staff_create(actor=SYSTEM, username="power.admin", password=PASSWORD,
                                     node_id=org.power.pk, roles=["administrator"])


def test_simulation_answers_what_a_customer_would_pay(org):
    tariff = services.tariff_import(actor=SYSTEM, text=tw_file(), reason="x").tariff
    lines = services.bill_simulate(actor=SYSTEM, tariff_id=tariff.pk, period_from=date(2026, 8, 1),
                                   period_to=date(2026, 9, 1), usage={"total": "20"}, year_to_date="210")
    assert [(ln.code, ln.block, ln.quantity, ln.amount) for ln in lines] == [
        ("water", 1, D(6), D("18.30")), ("water", 2, D(14), D("56.70")), ("sewage", 1, D(20), D("20.00"))]
    with pytest.raises(DomainError) as err:
        services.bill_simulate(actor=SYSTEM, tariff_id=tariff.pk, period_from=date(2026, 8, 1),
                               period_to=date(2026, 9, 1), usage={"total": "2.345"})
    assert err.value.problems[0].field == "usage.total"


def test_a_policy_discount_reaches_a_community_and_a_list(org):
    from ucis.customers import services as customer_services
    from ucis.customers.tests.conftest import TODAY

    area = customer_services.address_area_get_or_create(actor=SYSTEM, levels=[
        ("district", "D01", "城东区"), ("street", "D01-S01", "解放路街道"), ("community", "D01-S01-C01", "幸福小区")])
    other = customer_services.address_area_get_or_create(actor=SYSTEM, levels=[
        ("district", "D01", "城东区"), ("street", "D01-S01", "解放路街道"), ("community", "D01-S01-C02", "阳光小区")])
    accounts = []
    for n, a in enumerate([area, area, other]):
        premise = customer_services.premise_create(actor=SYSTEM, area_code=a.code, room=f"{n}01")
        accounts.append(customer_services.account_open(
            actor=SYSTEM, customer_id=None, new_customer=customer_services.CustomerInput(name=f"户{n}", customer_type="resident"),
            data=customer_services.AccountInput(node_id=org.station_b.pk, premise_id=premise.pk, commodities=("water",)),
            today=TODAY))
    data = services.DiscountInput(code="SALT-2026", label="咸潮补偿", company="TW", commodity="water", of=("water",),
                                  active_from=date(2026, 2, 1), active_to=date(2026, 4, 1), percent=D(50),
                                  message="受咸潮影响，2-3月水费减半")
    discount, count = services.discount_create(actor=SYSTEM, data=data, reason="salt tide", area_codes=["D01-S01-C01"],
                                               account_numbers=[accounts[2].account_no])
    assert count == 3 and set(DiscountMember.objects.values_list("account_id", flat=True)) == {a.pk for a in accounts}
    with pytest.raises(DomainError) as err:
        services.discount_create(actor=SYSTEM, data=data.__class__(**{**data.__dict__, "code": "X"}), reason="x",
                                 account_numbers=["NOPE1", accounts[0].account_no, "NOPE2"])
    assert [(p.field, p.reason) for p in err.value.problems] == [
        ("accounts[0]", "there is no account NOPE1 of TW in your area"),
        ("accounts[2]", "there is no account NOPE2 of TW in your area")]


def test_standing_reductions_and_late_fee_policies_follow_each_other(org):
    first = services.standing_reduction_set(actor=SYSTEM, company="TW", commodity="water", category="low_income",
                                            label="低保减免", of=["water"], free_volume=D(5), active_from=date(2025, 1, 1),
                                            reason="policy 2025")
    services.standing_reduction_set(actor=SYSTEM, company="TW", commodity="water", category="low_income",
                                    label="低保减免", of=["water"], free_volume=D(6), active_from=date(2026, 1, 1),
                                    reason="policy 2026")
    first.refresh_from_db()
    assert first.active_to == date(2026, 1, 1)
    policy = services.late_fee_policy_set(actor=SYSTEM, company="TW", commodity="water", grace_days=15,
                                          rates={"resident": ("0.001", "0.001")}, minimum="1.00",
                                          active_from=date(2026, 1, 1), reason="违约金")
    assert services.late_fee_rule(policy=policy).rates["resident"] == (D("0.001"), D("0.001"))
    with pytest.raises(DomainError) as err:
        services.late_fee_policy_set(actor=SYSTEM, company="TW", commodity="water", grace_days=15,
                                     rates={"resident": ("-1", "0")}, minimum="1", active_from=date(2026, 6, 1),
                                     reason="x")
    assert err.value.problems[0].field == "rates.resident"
