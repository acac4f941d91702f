"""Applying bank files (银电互联): collection files and direct-debit returns, all or nothing.

The file is parsed by the pure ``bankfile`` module; every problem — a malformed line, a wrong
total, a duplicate serial, an account number we do not have or of another company — is reported
with its line, field and reason, and then nothing is applied. A clean file is applied set-based:
its lines are COPYed into staging, their accounts locked, the payments inserted with one
``INSERT … ON CONFLICT DO NOTHING`` (``(bank, external_ref)`` is unique, so a file applied again
posts nothing) and allocated and posted by the ledger in three statements.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import DomainError, FieldProblem
from ucis.kernel.errors import gettext_noop as _
from ucis.ledger import selectors as ledger_selectors
from ucis.ledger import services as ledger_services
from ucis.org import selectors as org_selectors
from ucis.payments import bankfile
from ucis.payments.models import BankBatch, Payment
from ucis.platform.audit import audit_context
from ucis.platform.bulk import copy_rows
from ucis.platform.permissions import require
from ucis.platform.tenancy import acting_user


@dataclass
class BankImportOutcome:
    lines: int = 0
    total: Decimal = Decimal("0.00")
    paid_lines: int = 0
    applied: int = 0          # payments posted now
    already: int = 0          # lines posted by an earlier import of the same payments
    failed: list[bankfile.BankLine] = field(default_factory=list)  # debit returns the bank could not debit
    problems: list[FieldProblem] = field(default_factory=list)  # field names the line: "line 7: amount"
    batch: BankBatch | None = None
    duplicate_file: BankBatch | None = None
    dry_run: bool = False


def external_ref(bank_code: str, ref: str) -> str:
    return f"{bank_code}:{ref}"


def _company_code(merchant_code: str) -> str:
    return settings.UCIS_BANK_MERCHANTS.get(merchant_code, merchant_code)


def bank_file_apply(*, actor: Any, data: bytes, encoding: str | None = None, dry_run: bool = False,
                    ) -> BankImportOutcome:
    """Check a bank file and, when every line is right, post its payments (exactly once each)."""
    require(actor, "payments.import_bankfile")
    parsed = bankfile.parse_bank_file(data, kinds=(bankfile.COLLECT, bankfile.DEBIT_RETURN), encoding=encoding)
    out = BankImportOutcome(lines=len(parsed.lines), total=parsed.amount, dry_run=dry_run)
    out.problems = [FieldProblem(f"line {p.line}: {p.field}" if p.line else p.field, p.template, p.params)
                    for p in parsed.problems]
    header = parsed.header
    if header is None:
        if not out.problems:
            out.problems.append(FieldProblem("line 1: header", _("the file has no header line"), {}))
        return out
    company = org_selectors.org_node_list(actor=actor, kind="company").filter(
        code=_company_code(header.merchant_code)).first()
    if company is None:
        out.problems.append(FieldProblem("line 1: merchant_code", _("merchant code %(code)s is not a company you "
                                                                     "may post for"), {"code": header.merchant_code}))
        return out
    paid = [line for line in parsed.lines if line.paid]
    out.failed = [line for line in parsed.lines if not line.paid]
    out.paid_lines = len(paid)
    accounts = customer_selectors.account_ids_by_number(account_numbers={line.account_no for line in paid})
    for line in paid:
        found = accounts.get(line.account_no)
        if found is None or found[1] != company.pk:
            out.problems.append(FieldProblem(f"line {line.source_line}: account_no",
                                             _("no account %(account)s in company %(company)s"),
                                             {"account": line.account_no, "company": company.code}))
    if out.problems:
        return out
    digest = hashlib.sha256(data).hexdigest()
    out.duplicate_file = BankBatch.objects.filter(sha256=digest).first()
    if dry_run or out.duplicate_file is not None:
        # Only a check says beforehand how many lines were posted before; applying counts them
        # from what its own INSERT skipped.
        refs = [external_ref(header.bank_code, line.ref) for line in paid]
        out.already = Payment.objects.filter(channel="bank", external_ref__in=refs).count()
        return out
    with transaction.atomic(), audit_context(actor=actor, reason=f"bank file {header.batch_no}", source="bank"):
        customer_selectors.accounts_lock(account_ids=[accounts[line.account_no][0] for line in paid])
        with connection.cursor() as cursor:
            # The open items of every account of the file are aggregated in memory, not on disk.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("DROP TABLE IF EXISTS bank_lines, bank_payments")
            cursor.execute("CREATE TEMP TABLE bank_lines (ref text, account_id bigint, node_id bigint, amount "
                           "numeric(14, 2), paid_date date, line_no int, payer text) ON COMMIT DROP")
            copy_rows("bank_lines", ["ref", "account_id", "node_id", "amount", "paid_date", "line_no", "payer"],
                      ((external_ref(header.bank_code, line.ref), accounts[line.account_no][0],
                        accounts[line.account_no][2], line.amount, line.on, line.line_no, line.customer_name[:60])
                       for line in paid))
            cursor.execute("CREATE TEMP TABLE bank_payments (payment_id bigint, account_id bigint, node_id bigint, "
                           "amount numeric(14, 2), effective_date date, seq int) ON COMMIT DROP")
            cursor.execute(
                """WITH ins AS (
                     INSERT INTO payments_payment (company_id, node_id, account_id, channel, external_ref, amount,
                                                   received_at, business_date, payer_name, memo, status)
                     SELECT %s, b.node_id, b.account_id, 'bank', b.ref, b.amount, now(), b.paid_date, b.payer, %s,
                            'posted'
                       FROM bank_lines b ORDER BY b.line_no
                     ON CONFLICT (channel, external_ref) DO NOTHING
                     RETURNING id, external_ref, account_id, node_id, amount, business_date)
                   INSERT INTO bank_payments SELECT ins.id, ins.account_id, ins.node_id, ins.amount, ins.business_date,
                                                    b.line_no
                     FROM ins JOIN bank_lines b ON b.ref = ins.external_ref""",
                [company.pk, f"{header.bank_code} {header.batch_no}"[:200]])
            cursor.execute("SELECT count(*) FROM bank_payments")
            out.applied = int(cursor.fetchone()[0])
        out.already = len(paid) - out.applied
        ledger_services.payments_post_staged(actor=actor, company_id=company.pk, channel="bank",
                                             staging="bank_payments")
        out.batch = BankBatch.objects.create(
            company=company, kind=header.kind, bank_code=header.bank_code, merchant_code=header.merchant_code,
            batch_no=header.batch_no, file_date=header.file_date, encoding=parsed.encoding, sha256=digest,
            lines=len(parsed.lines), total=parsed.amount, applied=out.applied, failed=len(out.failed),
            applied_by=acting_user(actor))
    return out


def bank_file_reconcile(*, actor: Any, data: bytes, encoding: str | None = None) -> bankfile.ReconcileReport:
    """The exceptions report of a bank file against what we posted for that bank and day (差错报告):
    lines we never posted, our payments the bank does not list, differing amounts or accounts."""
    require(actor, "payments.import_bankfile")
    parsed = bankfile.parse_bank_file(data, kinds=(bankfile.COLLECT, bankfile.DEBIT_RETURN), encoding=encoding)
    if parsed.header is None or parsed.problems:
        raise DomainError(problems=[FieldProblem(f"line {p.line}: {p.field}", p.template, p.params)
                                    for p in parsed.problems] or [FieldProblem("file", _("no header line"), {})])
    prefix = f"{parsed.header.bank_code}:"
    days = {line.on for line in parsed.lines}
    ours = (Payment.objects.visible_to(actor).filter(channel="bank", external_ref__startswith=prefix,
                                                      business_date__in=days, status="posted")
            .values_list("external_ref", "account__account_no", "amount"))
    records = [bankfile.OurRecord(ref.removeprefix(prefix), account_no, amount) for ref, account_no, amount in ours]
    return bankfile.reconcile(parsed.lines, records)


def debit_request_export(*, actor: Any, company_id: int, bank_code: str, on: Any, batch_no: str) -> tuple[bytes, int]:
    """The direct-debit request file (代扣请求) for a bank: one line per account of the company that
    pays by direct debit and owes money net of its credit, for that amount. The bank's return file
    echoes each line's reference; applying it posts what the bank could debit. Returns (file, lines)."""
    require(actor, "payments.import_bankfile")
    company = org_selectors.org_node_list(actor=actor, kind="company").filter(pk=company_id).first()
    if company is None:
        raise DomainError("company_id", _("not a company you may bill"))
    accounts = customer_selectors.debit_accounts(company_id=company.pk)
    balances = ledger_selectors.account_balances(account_ids=[a[0] for a in accounts])
    rows = []
    for account_id, account_no, name, bank_account in accounts:
        due = balances[account_id].net
        if due > 0:
            rows.append(bankfile.BankRow(f"D{on:%Y%m%d}{account_id:010d}", account_no, name, due, on, bank_account))
    header = bankfile.BankHeader(bank_code, company.code, on, batch_no, kind=bankfile.DEBIT_REQUEST)
    return bankfile.write_debit_request(header=header, rows=rows), len(rows)
