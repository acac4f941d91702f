"""The journal: balanced, append-only, closed periods stay closed; a bill run posts its receivables."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection, transaction
from django.db.utils import IntegrityError, ProgrammingError

from ucis.kernel.errors import Conflict, DomainError
from ucis.ledger import selectors, services
from ucis.ledger.checks import assert_ledger_consistent, ledger_problems
from ucis.ledger.models import JournalEntry, JournalLine, LedgerPeriod
from ucis.ledger.services import Posting
from ucis.platform.tenancy import SYSTEM

pytestmark = pytest.mark.django_db


def test_issuing_a_run_posts_each_bill_as_receivables(billed, org):
    first, second, third = billed.bills
    assert all(b.status == "issued" and b.due_date is not None for b in billed.bills)
    entry = JournalEntry.objects.get(idempotency_key=f"bill:{third.pk}")
    lines = {(ln.ledger_account.code, ln.account_id): ln.amount for ln in entry.lines.select_related("ledger_account")}
    assert lines == {("RECEIVABLE:WATER", third.account_id): D("75.00"), ("REVENUE:WATER", None): D("-75.00"),
                     ("RECEIVABLE:ON_BEHALF:SEWAGE", third.account_id): D("23.75"),
                     ("PAYABLE:ON_BEHALF:SEWAGE", None): D("-23.75")}
    assert selectors.account_balance(account_id=first.account_id).owed == D("23.60")
    trial = {r["code"]: r["balance"] for r in selectors.trial_balance(actor=SYSTEM, company_id=org.water.pk)}
    assert trial == {"PAYABLE:ON_BEHALF:SEWAGE": D("-45.60"), "RECEIVABLE:ON_BEHALF:SEWAGE": D("45.60"),
                     "RECEIVABLE:WATER": D("126.00"), "REVENUE:WATER": D("-126.00")}
    items = selectors.open_items(account_id=third.account_id)
    assert [(i.ledger_account, i.open_amount) for i in items] == [("RECEIVABLE:WATER", D("75.00")),
                                                                 ("RECEIVABLE:ON_BEHALF:SEWAGE", D("23.75"))]


def test_posting_a_run_twice_posts_nothing_more(billed, org):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE again AS SELECT id AS bill_id, account_id, node_id, 'RECEIVABLE'::text "
                       "AS receivable, total AS amount FROM billing_bill WHERE run_id = %s", [billed.run.pk])
    before = JournalLine.objects.count()
    services.bill_postings_post(actor=SYSTEM, company_id=org.water.pk, commodity="water",
                                effective_date=date(2025, 3, 1), staging="again")
    assert JournalLine.objects.count() == before


def _payment_lines(account_id, amount=D("10.00")):
    return [Posting("CASH:counter", amount), Posting("CUSTOMER_CREDIT", -amount, account_id)]


def test_an_unbalanced_entry_is_refused_by_the_service_and_by_the_database(billed, org):
    account_id = billed.bills[0].account_id
    with pytest.raises(DomainError, match="debits and credits differ by 0.01"):
        services.journal_post(actor=SYSTEM, company_id=org.water.pk, node_id=org.water.pk, kind="adjustment",
                              effective_date=date(2025, 3, 1),
                              lines=[Posting("CASH:counter", D("10.00")), Posting("CUSTOMER_CREDIT", D("-9.99"),
                                                                                  account_id)])
    with pytest.raises(DomainError, match="at least two lines"):
        services.journal_post(actor=SYSTEM, company_id=org.water.pk, node_id=org.water.pk, kind="adjustment",
                              effective_date=date(2025, 3, 1), lines=[Posting("CASH:counter", D("0.01"))])
    with pytest.raises(DomainError, match="unknown ledger account"):
        services.journal_post(actor=SYSTEM, company_id=org.water.pk, node_id=org.water.pk, kind="adjustment",
                              effective_date=date(2025, 3, 1),
                              lines=[Posting("CASH:counter", D("1")), Posting("PETTY", D("-1"))])
    entry = services.journal_post(actor=SYSTEM, company_id=org.water.pk, node_id=org.water.pk, kind="payment",
                                  effective_date=date(2025, 3, 1), lines=_payment_lines(account_id))
    cash = entry.lines.get(seq=1).ledger_account_id
    # Straight SQL cannot get around it either: unbalanced, or a third line added later.
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO ledger_journalentry (company_id, node_id, kind, effective_date, posted_at, "
                           "line_count, source_type, memo) VALUES (%s, %s, 'adjustment', '2025-03-01', now(), 2, '', '') "
                           "RETURNING id", [org.water.pk, org.water.pk])
            new_id = cursor.fetchone()[0]
            cursor.execute("INSERT INTO ledger_journalline (entry_id, seq, ledger_account_id, amount) "
                           "VALUES (%s, 1, %s, 5), (%s, 2, %s, -4)", [new_id, cash, new_id, cash])
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO ledger_journalline (entry_id, seq, ledger_account_id, amount) "
                           "VALUES (%s, 3, %s, 5), (%s, 4, %s, -5)", [entry.pk, cash, entry.pk, cash])


def test_posted_rows_cannot_be_changed_or_deleted(billed):
    line = JournalLine.objects.first()
    for sql in ("UPDATE ledger_journalline SET amount = amount + 1 WHERE id = %s",
                "DELETE FROM ledger_journalline WHERE id = %s",
                "UPDATE ledger_journalentry SET memo = 'x' WHERE id = %s",
                "DELETE FROM ledger_journalentry WHERE id = %s"):
        with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(sql, [line.pk if "line" in sql else line.entry_id])


def test_idempotency_key_posts_once_and_reversal_restores(billed, org):
    account_id = billed.bills[0].account_id
    first = services.journal_post(actor=SYSTEM, company_id=org.water.pk, node_id=org.water.pk, kind="payment",
                                  effective_date=date(2025, 3, 1), lines=_payment_lines(account_id),
                                  idempotency_key="test:1")
    again = services.journal_post(actor=SYSTEM, company_id=org.water.pk, node_id=org.water.pk, kind="payment",
                                  effective_date=date(2025, 3, 1), lines=_payment_lines(account_id),
                                  idempotency_key="test:1")
    assert again.pk == first.pk and JournalEntry.objects.filter(idempotency_key="test:1").count() == 1
    assert selectors.account_balance(account_id=account_id).credit == D("10.00")
    with pytest.raises(DomainError, match="reason"):
        services.journal_reverse(actor=SYSTEM, entry_id=first.pk, reason=" ", effective_date=date(2025, 3, 2))
    services.journal_reverse(actor=SYSTEM, entry_id=first.pk, reason="wrong account", effective_date=date(2025, 3, 2))
    assert selectors.account_balance(account_id=account_id).credit == D("0.00")
    with pytest.raises(Conflict, match="already been reversed"):
        services.journal_reverse(actor=SYSTEM, entry_id=first.pk, reason="again", effective_date=date(2025, 3, 2))


def test_a_closed_period_takes_no_posting(billed, org):
    account_id = billed.bills[0].account_id
    services.period_close(actor=SYSTEM, company_id=org.water.pk, period=date(2025, 3, 1))
    with pytest.raises(Conflict, match="2025-03 is closed"):
        services.journal_post(actor=SYSTEM, company_id=org.water.pk, node_id=org.water.pk, kind="payment",
                              effective_date=date(2025, 3, 31), lines=_payment_lines(account_id))
    with pytest.raises(Conflict, match="already closed"):
        services.period_close(actor=SYSTEM, company_id=org.water.pk, period=date(2025, 3, 1))
    with pytest.raises(IntegrityError, match="closed period"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO ledger_journalentry (company_id, node_id, kind, effective_date, posted_at, "
                           "line_count, source_type, memo) VALUES (%s, %s, 'adjustment', '2025-03-15', now(), 2, '', '')",
                           [org.water.pk, org.water.pk])
    # The next month is open.
    services.journal_post(actor=SYSTEM, company_id=org.water.pk, node_id=org.water.pk, kind="payment",
                          effective_date=date(2025, 4, 1), lines=_payment_lines(account_id))
    assert LedgerPeriod.objects.filter(closed_at__isnull=False).count() == 1


def test_the_checker_finds_an_orphan_entry(billed, org):
    assert ledger_problems() == []
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO ledger_journalentry (company_id, node_id, kind, effective_date, posted_at, "
                       "line_count, source_type, memo) VALUES (%s, %s, 'adjustment', '2025-03-15', now(), 2, '', '') "
                       "RETURNING id", [org.water.pk, org.water.pk])
        orphan = cursor.fetchone()[0]
    problems = ledger_problems()
    assert any(p.startswith("entry without lines") and str(orphan) in p for p in problems)
    with pytest.raises(AssertionError, match="entry without lines"):
        assert_ledger_consistent()
    # The teardown check runs before the test's rollback: take the orphan out again (triggers off).
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE ledger_journalentry DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM ledger_journalentry WHERE id = %s", [orphan])
        cursor.execute("ALTER TABLE ledger_journalentry ENABLE TRIGGER USER")


def test_arrears_lists_overdue_open_bills(billed, org):
    first = billed.bills[0]
    due = first.due_date
    assert selectors.arrears_list(actor=SYSTEM, company_id=org.water.pk, as_of=due) == []
    rows = selectors.arrears_list(actor=SYSTEM, company_id=org.water.pk, as_of=date.fromordinal(due.toordinal() + 1))
    assert [(r.account_id, r.open_total) for r in rows] == [(b.account_id, b.total) for b in
                                                            sorted(billed.bills, key=lambda b: b.account_id)]
    on_route = selectors.arrears_list(actor=SYSTEM, company_id=org.water.pk,
                                      as_of=date.fromordinal(due.toordinal() + 1), route_id=billed.site.route.pk)
    assert len(on_route) == 3
    assert selectors.arrears_list(actor=SYSTEM, company_id=org.water.pk, as_of=date.fromordinal(due.toordinal() + 1),
                                  route_id=billed.site.route.pk + 999) == []


def test_the_checker_finds_orphans_of_the_mass_tables(billed):
    """Bills, bill lines, run items and the journal have no database foreign keys: the checker
    looks for rows naming a missing row instead."""
    assert ledger_problems() == []
    bill = billed.bills[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) + 1000 FROM billing_bill")
        missing = cursor.fetchone()[0]
        cursor.execute("INSERT INTO billing_billline (bill_id, seq, code, label, quantity, amount, receivable, "
                       "version, block) VALUES (%s, 1, 'x', 'x', 1, 1, 'WATER', '', 0) RETURNING id", [missing])
        line = cursor.fetchone()[0]
        cursor.execute("UPDATE billing_billrunitem SET account_id = -1 WHERE run_id = %s AND account_id = %s",
                       [billed.run.pk, bill.account_id])
    problems = ledger_problems()
    assert any(p.startswith("billing_billline.bill_id names a missing billing_bill") and str(missing) in p
               for p in problems)
    assert any(p.startswith("billing_billrunitem.account_id names a missing customers_account") for p in problems)
    with pytest.raises(AssertionError, match="orphan"):
        assert_ledger_consistent()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM billing_billline WHERE id = %s", [line])
        cursor.execute("UPDATE billing_billrunitem SET account_id = %s WHERE run_id = %s AND account_id = -1",
                       [bill.account_id, billed.run.pk])
    assert ledger_problems() == []
