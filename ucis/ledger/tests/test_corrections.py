"""Corrections only through approved orders: request → approve by another person within their
limit → posted as reversals and new entries; the account goes to the forced review queue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from conftest import PASSWORD
from ucis.billing.models import Bill
from ucis.kernel.errors import Conflict, DomainError
from ucis.ledger import accrual, corrections, selectors
from ucis.ledger.models import CorrectionOrder, JournalEntry
from ucis.metering.models import ReadReview
from ucis.org import services as org_services
from ucis.payments import services as payments
from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services as tariff_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(org):
    def make(name, roles):
        return org_services.staff_create(actor=SYSTEM, username=name, password=PASSWORD, node_id=org.branch_b.pk,
                                         roles=roles)
    return {"clerk": make("bill.clerk", ["billing_clerk"]), "approver": make("approver", ["billing_approver"]),
            "manager": make("boss", ["manager"])}


def _owed(account_id):
    return selectors.account_balance(account_id=account_id)


def test_a_charge_refund_needs_another_person_and_posts_on_approval(billed, staff):
    bill = billed.bills[2]  # 98.75: water 75.00 + sewage 23.75
    order = corrections.correction_request(actor=staff["clerk"], kind="charge_adjust", account_id=bill.account_id,
                                           bill_id=bill.pk, amount="-15.00", reason="表计误差, 退费")
    assert order.status == "requested" and _owed(bill.account_id).owed == D("98.75")
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):  # a clerk may request but not approve
        corrections.correction_decide(actor=staff["clerk"], order_id=order.pk, approve=True)
    own = corrections.correction_request(actor=staff["approver"], kind="charge_adjust", account_id=bill.account_id,
                                         bill_id=bill.pk, amount="1.00", reason="补收")
    with pytest.raises(DomainError, match="someone other than who requested"):
        corrections.correction_decide(actor=staff["approver"], order_id=own.pk, approve=True)
    corrections.correction_decide(actor=staff["manager"], order_id=own.pk, approve=False, note="不同意")
    corrections.correction_decide(actor=staff["approver"], order_id=order.pk, approve=True, note="核实")
    order.refresh_from_db()
    assert order.status == "posted" and order.decided_by == staff["approver"] and len(order.posted_entry_ids) == 1
    assert _owed(bill.account_id).owed == D("83.75")
    assert {r.reasons[0] for r in ReadReview.objects.filter(status="open")} == {"bill_corrected"}
    with pytest.raises(Conflict, match="already decided"):
        corrections.correction_decide(actor=staff["approver"], order_id=order.pk, approve=True)


def test_a_refund_of_a_paid_bill_becomes_credit(billed, staff):
    bill = billed.bills[0]  # 23.60
    payments.payment_post(actor=SYSTEM, account_id=bill.account_id, amount="23.60", channel="counter")
    order = corrections.correction_request(actor=staff["clerk"], kind="charge_adjust", account_id=bill.account_id,
                                           bill_id=bill.pk, amount="-6.00", reason="退费")
    corrections.correction_decide(actor=staff["approver"], order_id=order.pk, approve=True)
    balance = _owed(bill.account_id)
    assert (balance.owed, balance.credit) == (D("0.00"), D("6.00"))


def test_amount_limits_by_role(billed, staff):
    bill = billed.bills[2]
    order = corrections.correction_request(actor=staff["clerk"], kind="usage_adjust", account_id=bill.account_id,
                                           bill_id=bill.pk, usage="250", reason="漏抄 250 方")
    # Priced at the highest block reached (5.00) plus the sewage fee (0.95): 250 × 5.95 = 1487.50.
    assert order.amount == D("1487.50")
    assert [(ln["receivable"], ln["amount"]) for ln in order.details["lines"]] == [
        ("RECEIVABLE:WATER", "1250.00"), ("RECEIVABLE:ON_BEHALF:SEWAGE", "237.50")]
    with pytest.raises(DomainError, match="above your approval limit of 1000"):
        corrections.correction_decide(actor=staff["approver"], order_id=order.pk, approve=True)
    corrections.correction_decide(actor=staff["manager"], order_id=order.pk, approve=True)
    assert _owed(bill.account_id).owed == D("98.75") + D("1487.50")


def test_bad_requests_are_refused_with_the_field(billed, staff, org):
    bill = billed.bills[0]
    cases = [
        ({"kind": "charge_adjust", "bill_id": bill.pk, "amount": "-30.00"}, "amount", "more than the 16.00 billed"),
        ({"kind": "charge_adjust", "bill_id": bill.pk, "amount": "0"}, "amount", "zero changes nothing"),
        ({"kind": "charge_adjust", "bill_id": billed.bills[1].pk, "amount": "1"}, "bill", "not a bill of this account"),
        ({"kind": "late_fee_adjust", "bill_id": bill.pk, "amount": "-1"}, "amount", "more than the open late fee"),
        ({"kind": "deducted_days", "bill_id": bill.pk, "days": "0"}, "days", "between 1 and 366"),
        ({"kind": "teleport", "bill_id": bill.pk}, "kind", "unknown correction kind"),
    ]
    for kwargs, field, reason in cases:
        with pytest.raises(DomainError, match=reason) as err:
            corrections.correction_request(actor=staff["clerk"], account_id=bill.account_id, reason="x", **kwargs)
        assert err.value.problems[0].field == field
    with pytest.raises(DomainError, match="reason"):
        corrections.correction_request(actor=staff["clerk"], kind="cancel_rebill", account_id=bill.account_id,
                                       bill_id=bill.pk, reason=" ")
    assert CorrectionOrder.objects.count() == 0


def test_cancel_and_rebill(billed, staff, org):
    from ucis.billing import services as billing

    bill = billed.bills[1]
    payments.payment_post(actor=SYSTEM, account_id=bill.account_id, amount="10.00", channel="counter")
    order = corrections.correction_request(actor=staff["clerk"], kind="cancel_rebill", account_id=bill.account_id,
                                           bill_id=bill.pk, reason="读数错误, 重新出账")
    corrections.correction_decide(actor=staff["approver"], order_id=order.pk, approve=True)
    bill.refresh_from_db()
    balance = _owed(bill.account_id)
    assert bill.status == "cancelled" and (balance.owed, balance.credit) == (D("0.00"), D("10.00"))
    # A run over the route bills just that account again (the read would have been corrected first);
    # the credit pays the new bill at once.
    run = billing.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    assert run.items_total == 1
    billing.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    billing.bill_run_approve(actor=SYSTEM, run_id=run.pk)
    billing.bill_run_issue(actor=SYSTEM, run_id=run.pk)
    new = Bill.objects.get(run=run)
    assert _owed(bill.account_id).owed == new.total - D("10.00")


def test_late_fee_waiver_reversal_and_relief(billed, staff, org):
    tariff_services.late_fee_policy_set(actor=SYSTEM, company="TW", commodity="water", grace_days=0,
                                        rates={"resident": ("0.001", "0.003")}, minimum="0",
                                        active_from=billed.bills[0].due_date.replace(year=2024), reason="规则")
    bill = billed.bills[2]
    day = bill.due_date + timedelta(days=10)
    accrual.late_fees_accrue(actor=SYSTEM, company_id=org.water.pk, commodity="water", on=day)
    fee = D("0.99")
    order = corrections.correction_request(actor=staff["clerk"], kind="late_fee_adjust", account_id=bill.account_id,
                                           bill_id=bill.pk, amount="-0.50", reason="减免一半")
    corrections.correction_decide(actor=staff["approver"], order_id=order.pk, approve=True)
    assert _owed(bill.account_id).owed == D("98.75") + fee - D("0.50")
    entry = JournalEntry.objects.get(kind="late_fee", lines__account_id=bill.account_id)
    order = corrections.correction_request(actor=staff["clerk"], kind="receivable_reversal",
                                           account_id=bill.account_id, entry_id=entry.pk, reason="误收违约金")
    corrections.correction_decide(actor=staff["approver"], order_id=order.pk, approve=True)
    # The 0.50 waived and the 0.99 reversed: 0.50 too much taken off the late fee, which was never
    # paid, so the late-fee receivable is simply below zero → moved to credit.
    balance = _owed(bill.account_id)
    assert (balance.owed, balance.credit) == (D("98.75"), D("0.50"))
    # Ten deducted days: the fee restarts from the due date + 10.
    order = corrections.correction_request(actor=staff["clerk"], kind="deducted_days", account_id=bill.account_id,
                                           bill_id=bill.pk, days=10, reason="停水期间")
    corrections.correction_decide(actor=staff["approver"], order_id=order.pk, approve=True)
    result = accrual.late_fees_accrue(actor=SYSTEM, company_id=org.water.pk, commodity="water",
                                      on=day + timedelta(days=5))
    # Now 5 days on 98.75 (1‰) = 0.49, less than the 0.99 accrued before: nothing more for this bill
    # (and what was waived or reversed is not charged again); the other two bills accrue 0.11 + 0.25.
    assert (result.amount, result.bills) == (D("0.36"), 2)
    exempt = corrections.correction_request(actor=staff["clerk"], kind="penalty_setting", account_id=bill.account_id,
                                            active_from=day, reason="困难户免收违约金")
    corrections.correction_decide(actor=staff["approver"], order_id=exempt.pk, approve=True)
    before = _owed(bill.account_id).owed
    later = accrual.late_fees_accrue(actor=SYSTEM, company_id=org.water.pk, commodity="water",
                                     on=day + timedelta(days=30))
    assert later.entries == 2 and _owed(bill.account_id).owed == before  # only the other two accounts
