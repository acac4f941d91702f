"""The demo's money: the month before last was billed a month ago and is now overdue; most
customers paid it by bank collection, some at the counter, by WeChat Pay and Alipay (the sandbox
plays the platforms, so the notices go through the real checks), the rest are in arrears and
accrue late fees; one correction order of each kind is requested and approved."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

from ucis.customers import selectors as customer_selectors
from ucis.demo.billingdemo import COMPANIES
from ucis.kernel.errors import DomainError
from ucis.ledger import accrual, corrections
from ucis.ledger import selectors as ledger_selectors
from ucis.org import selectors as org_selectors
from ucis.payments import bankapply, bankfile, online
from ucis.payments import services as payment_services
from ucis.platform.tenancy import SYSTEM


def _staff(username: str) -> Any:
    return org_selectors.staff_list(actor=SYSTEM, q=username).filter(username=username).first()


def demo_payments(*, today: date, seed: int = 2026) -> dict[str, Any]:
    rng = random.Random(seed)
    counts = {"bank": 0, "counter": 0, "wechat": 0, "alipay": 0, "late_fee_accounts": 0, "corrections": 0,
              "arrears_accounts": 0}
    for code, commodity, prefix in COMPANIES:
        company = org_selectors.org_node_by_code(actor=SYSTEM, code=code)
        overdue = ledger_selectors.arrears_list(actor=SYSTEM, company_id=company.pk, as_of=today)
        if not overdue:
            continue
        rng.shuffle(overdue)
        names = customer_selectors.account_labels(account_ids=[r.account_id for r in overdue])
        n = len(overdue)
        bank, counter = overdue[: n * 80 // 100], overdue[n * 80 // 100: n * 80 // 100 + 20]
        online_rows = overdue[n * 80 // 100 + 20: n * 80 // 100 + 40]
        rows = [bankfile.BankRow(f"{code}{today:%Y%m%d}{i:07d}", names[r.account_id][0], names[r.account_id][1],
                                 r.open_total, today) for i, r in enumerate(bank, start=1) if r.open_total > 0]
        if rows:
            data = bankfile.write_bank_file(header=bankfile.BankHeader("ICBC", code, today, f"{today:%Y%m%d}01"),
                                            rows=rows)
            out = bankapply.bank_file_apply(actor=SYSTEM, data=data)
            if out.problems:
                raise DomainError(problems=out.problems)
            counts["bank"] += out.applied
        clerk = _staff(f"{prefix}.01.counter-clerk1") or SYSTEM
        for r in counter:
            try:
                payment_services.payment_post(actor=clerk, account_id=r.account_id, amount=r.open_total,
                                              channel="counter", external_ref=f"demo-counter-{r.account_id}-{today}")
                counts["counter"] += 1
            except DomainError:
                continue  # e.g. a clerk of another branch without company-wide lookup
        for i, r in enumerate(online_rows):
            channel = "wechat" if i % 2 == 0 else "alipay"
            order = online.online_order_create(actor=SYSTEM, account_id=r.account_id, amount=r.open_total,
                                               channel=channel)
            sent = online.sandbox_pay(order)
            if channel == "wechat":
                status, _body, _ct = online.wechat_notice_handle(headers=sent[0], body=sent[1])
                counts["wechat"] += status == 200
            else:
                _status, body, _ct = online.alipay_notify_handle(params=sent)
                counts["alipay"] += body == b"success"
        result = accrual.late_fees_accrue(actor=SYSTEM, company_id=company.pk, commodity=commodity, on=today)
        counts["late_fee_accounts"] += result.entries
        counts["corrections"] += _corrections(prefix, company, today)
        counts["arrears_accounts"] += len(ledger_selectors.arrears_list(actor=SYSTEM, company_id=company.pk,
                                                                       as_of=today))
    return counts


def _corrections(prefix: str, company: Any, today: date) -> int:
    """One order of each kind on accounts still in arrears, requested by a billing clerk and
    approved by the company's approver (the manager for amounts above the approver's limit)."""
    clerk = _staff(f"{prefix}.01.billing-clerk1")
    approver = _staff(f"{prefix}.hq.billing-approver1")
    if clerk is None or approver is None:
        return 0
    rows = [r for r in ledger_selectors.arrears_list(actor=clerk, company_id=company.pk, as_of=today) if r.bills]
    with_fee = [r for r in rows if r.late_fee > Decimal("0.10")]
    plain = [r for r in rows if r not in with_fee[:3]]
    if len(with_fee) < 3 or len(plain) < 4:
        return 0
    a, b, c, d = plain[:4]
    f1, f2, f3 = with_fee[:3]
    fee_entry = ledger_selectors.entry_of_account(account_id=f2.account_id, kind="late_fee")
    requests = [
        {"kind": "charge_adjust", "account_id": a.account_id, "bill_id": a.bills[0].bill_id,
         "amount": -min(Decimal("5.00"), a.bills[0].total / 2).quantize(Decimal("0.01")), "reason": "表计误差，退补"},
        {"kind": "usage_adjust", "account_id": b.account_id, "bill_id": b.bills[0].bill_id, "usage": "2",
         "reason": "漏抄 2 个单位，补收"},
        {"kind": "late_fee_adjust", "account_id": f1.account_id, "bill_id": f1.bills[0].bill_id,
         "amount": -(f1.late_fee / 2).quantize(Decimal("0.01")), "reason": "困难家庭，减免一半违约金"},
        {"kind": "receivable_reversal", "account_id": f2.account_id, "entry_id": fee_entry.pk if fee_entry else None,
         "reason": "银行扣款延迟，违约金冲正"},
        {"kind": "cancel_rebill", "account_id": c.account_id, "bill_id": c.bills[-1].bill_id,
         "reason": "抄错表，退单重开"},
        {"kind": "deducted_days", "account_id": f3.account_id, "bill_id": f3.bills[0].bill_id, "days": 10,
         "reason": "停水期间不计违约金"},
        {"kind": "penalty_setting", "account_id": d.account_id, "active_from": today, "reason": "低保户免收违约金"},
    ]
    done = 0
    for req in requests:
        try:
            order = corrections.correction_request(actor=clerk, **req)
            corrections.correction_decide(actor=approver, order_id=order.pk, approve=True, note="演示审批")
            done += 1
        except DomainError:
            continue
    return done
