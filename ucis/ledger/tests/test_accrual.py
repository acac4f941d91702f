"""Late fees accrue on overdue bills by the company's rule; credit pays new bills when they are issued."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from ucis.ledger import accrual, selectors
from ucis.ledger.models import JournalEntry
from ucis.payments import services as payments
from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services as tariff_services

from .conftest import bill_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(org):
    return tariff_services.late_fee_policy_set(
        actor=SYSTEM, company="TW", commodity="water", grace_days=0, rates={"resident": ("0.001", "0.003")},
        minimum="1.00", active_from=date(2024, 1, 1), reason="违约金规则")


def _fees(account_id):
    return sum((i.open_amount for i in selectors.open_items(account_id=account_id)
                if i.ledger_account == "RECEIVABLE:LATE_FEE"), D("0.00"))


def test_fees_accrue_daily_with_the_minimum_and_once_per_day(billed, org, rule):
    due = billed.bills[2].due_date
    assert accrual.late_fees_accrue(actor=SYSTEM, company_id=org.water.pk, commodity="water", on=due).entries == 0
    day10 = due + timedelta(days=10)
    first = accrual.late_fees_accrue(actor=SYSTEM, company_id=org.water.pk, commodity="water", on=day10)
    # 98.75 × 10 × 1‰ = 0.99, 49.25 → 0.49, 23.60 → 0.24: each account is raised to the 1.00 minimum.
    assert (first.entries, first.amount) == (3, D("3.00"))
    assert [_fees(b.account_id) for b in billed.bills] == [D("1.00")] * 3
    again = accrual.late_fees_accrue(actor=SYSTEM, company_id=org.water.pk, commodity="water", on=day10)
    assert again.entries == 0 and JournalEntry.objects.filter(kind="late_fee").count() == 3
    # Ten more days: 98.75 × 20‰ = 1.98 in all, so 0.98 more; the others stay under the minimum.
    later = accrual.late_fees_accrue(actor=SYSTEM, company_id=org.water.pk, commodity="water",
                                     on=day10 + timedelta(days=10))
    assert (later.entries, later.amount) == (1, D("0.98"))
    assert _fees(billed.bills[2].account_id) == D("1.98")
    rows = {r.account_id: r for r in selectors.arrears_list(actor=SYSTEM, company_id=org.water.pk,
                                                            as_of=day10 + timedelta(days=10))}
    assert rows[billed.bills[2].account_id].late_fee == D("1.98")


def test_the_earlier_year_rate_applies_after_the_year_end(billed, org, rule):
    bill = billed.bills[2]
    due = bill.due_date
    jan10 = date(due.year + 1, 1, 10)
    accrual.late_fees_accrue(actor=SYSTEM, company_id=org.water.pk, commodity="water", on=jan10)
    days_this = (date(due.year + 1, 1, 1) - due).days - 1
    expected = (D("98.75") * (D("0.001") * days_this + D("0.003") * 10)).quantize(D("0.01"))
    assert _fees(bill.account_id) == expected


def test_a_paid_bill_accrues_nothing(billed, org, rule):
    bill = billed.bills[2]
    payments.payment_post(actor=SYSTEM, account_id=bill.account_id, amount="98.75", channel="bank", external_ref="b1")
    accrual.late_fees_accrue(actor=SYSTEM, company_id=org.water.pk, commodity="water",
                             on=bill.due_date + timedelta(days=30))
    assert _fees(bill.account_id) == D("0.00")


def test_credit_pays_the_next_bills_when_they_are_issued(billed, org):
    account_id = billed.bills[0].account_id
    payments.payment_post(actor=SYSTEM, account_id=account_id, amount="50.00", channel="counter")  # 23.60 + 26.40
    assert selectors.account_balance(account_id=account_id).credit == D("26.40")
    _run, march = bill_month(billed.site, org, period="2025-03", readings=("16", "30", "50"),
                             read_date=date(2025, 3, 10))
    balance = selectors.account_balance(account_id=account_id)
    assert (march[0].total, balance.owed, balance.credit) == (D("23.60"), D("0.00"), D("2.80"))
    assert JournalEntry.objects.filter(kind="credit").count() == 1
