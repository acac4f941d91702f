"""The ledger invariant checker: one function, run in the tests' teardown and by ``ucis ledger-check``.

It reads the whole journal, so it is for tests, nightly checks and after migrations — not for a
request path.
"""

from __future__ import annotations

from django.db import connection

CHECKS: list[tuple[str, str]] = [
    ("unbalanced entry",
     """SELECT e.id FROM ledger_journalentry e LEFT JOIN ledger_journalline l ON l.entry_id = e.id
         GROUP BY e.id, e.line_count HAVING coalesce(sum(l.amount), 0) <> 0 OR count(l.id) <> e.line_count"""),
    ("entry without lines (orphan)",
     "SELECT e.id FROM ledger_journalentry e WHERE NOT EXISTS "
     "(SELECT 1 FROM ledger_journalline l WHERE l.entry_id = e.id)"),
    ("trial balance not zero",
     """SELECT a.company_id FROM ledger_journalline l JOIN ledger_ledgeraccount a ON a.id = l.ledger_account_id
         GROUP BY a.company_id HAVING sum(l.amount) <> 0"""),
    ("line on another company's ledger account",
     """SELECT l.id FROM ledger_journalline l JOIN ledger_journalentry e ON e.id = l.entry_id
          JOIN ledger_ledgeraccount a ON a.id = l.ledger_account_id WHERE a.company_id <> e.company_id"""),
    ("receivable line without a customer account",
     """SELECT l.id FROM ledger_journalline l JOIN ledger_ledgeraccount a ON a.id = l.ledger_account_id
         WHERE (a.receivable OR a.code = 'CUSTOMER_CREDIT') AND l.account_id IS NULL"""),
    ("receivable line's bill belongs to another account",
     """SELECT l.id FROM ledger_journalline l JOIN billing_bill b ON b.id = l.bill_id
         WHERE l.account_id IS NOT NULL AND l.account_id <> b.account_id"""),
    ("bill posted more than once",
     """SELECT source_id FROM ledger_journalentry WHERE kind = 'bill' GROUP BY source_id HAVING count(*) > 1"""),
    ("issued bill not posted",
     """SELECT b.id FROM billing_bill b WHERE b.status = 'issued' AND b.total <> 0 AND NOT EXISTS
          (SELECT 1 FROM ledger_journalentry e WHERE e.idempotency_key = 'bill:' || b.id)"""),
    ("posted bill's receivable differs from its total",
     """SELECT b.id FROM billing_bill b JOIN ledger_journalentry e ON e.idempotency_key = 'bill:' || b.id
          JOIN ledger_journalline l ON l.entry_id = e.id JOIN ledger_ledgeraccount a ON a.id = l.ledger_account_id
         WHERE a.receivable GROUP BY b.id, b.total HAVING sum(l.amount) <> b.total"""),
    ("bill receivable paid beyond what was owed",
     """SELECT l.bill_id FROM ledger_journalline l JOIN ledger_ledgeraccount a ON a.id = l.ledger_account_id
         WHERE a.receivable AND l.bill_id IS NOT NULL
         GROUP BY l.bill_id, l.ledger_account_id HAVING sum(l.amount) < 0 AND max(l.amount) > 0"""),
    ("credit balance below zero",
     """SELECT l.account_id FROM ledger_journalline l JOIN ledger_ledgeraccount a ON a.id = l.ledger_account_id
         WHERE a.code = 'CUSTOMER_CREDIT' GROUP BY l.account_id HAVING sum(l.amount) > 0"""),
]

# The mass tables' references have no database foreign keys (docs/architecture.md, Decisions):
# (table, column, referenced table) — every non-null value must name an existing row.
REFERENCES: list[tuple[str, str, str]] = [
    ("ledger_journalentry", "company_id", "org_orgnode"),
    ("ledger_journalentry", "node_id", "org_orgnode"),
    ("ledger_journalline", "entry_id", "ledger_journalentry"),
    ("ledger_journalline", "ledger_account_id", "ledger_ledgeraccount"),
    ("ledger_journalline", "account_id", "customers_account"),
    ("ledger_journalline", "bill_id", "billing_bill"),
    ("billing_bill", "run_id", "billing_billrun"),
    ("billing_bill", "account_id", "customers_account"),
    ("billing_bill", "company_id", "org_orgnode"),
    ("billing_bill", "node_id", "org_orgnode"),
    ("billing_billline", "bill_id", "billing_bill"),
    ("billing_billrunitem", "run_id", "billing_billrun"),
    ("billing_billrunitem", "account_id", "customers_account"),
]
CHECKS += [
    (f"{table}.{column} names a missing {target} row (orphan)",
     f"SELECT t.{column} FROM {table} t WHERE t.{column} IS NOT NULL AND NOT EXISTS "  # noqa: S608 - constants
     f"(SELECT 1 FROM {target} r WHERE r.id = t.{column})")
    for table, column, target in REFERENCES
]

# Checks of tables another app adds (payments registers its own: each external reference posted once).
EXTRA_CHECKS: list[tuple[str, str]] = []


def ledger_problems(limit: int = 5) -> list[str]:
    """Every broken invariant with up to ``limit`` offending ids; empty when the books are sound."""
    problems = []
    with connection.cursor() as cursor:
        for name, sql in CHECKS + EXTRA_CHECKS:
            cursor.execute(f"SELECT * FROM ({sql}) AS q LIMIT {int(limit)}")  # noqa: S608
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                problems.append(f"{name}: {ids}")
    return problems


def assert_ledger_consistent() -> None:
    problems = ledger_problems()
    if problems:
        raise AssertionError("ledger invariants broken:\n  " + "\n  ".join(problems))
