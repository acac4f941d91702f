"""Bank collection files applied all or nothing; applying one again posts nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from ucis.kernel.errors import DomainError
from ucis.ledger import selectors as ledger_selectors
from ucis.ledger.models import JournalEntry
from ucis.payments import bankapply, bankfile
from ucis.payments.models import BankBatch, Payment
from ucis.platform.tenancy import SYSTEM

from .conftest import bill_month

pytestmark = pytest.mark.django_db
DAY = date(2026, 11, 20)


def _file(rows, *, merchant="TW", batch="B001", kind=bankfile.COLLECT):
    return bankfile.write_bank_file(header=bankfile.BankHeader("ICBC", merchant, DAY, batch, kind), rows=rows)


def _row(ref, account, amount, name="住户"):
    return bankfile.BankRow(ref, account.account_no, name, D(amount), DAY)


def test_a_clean_file_posts_each_line_once_allocated_like_the_counter(billed, org):
    site = billed.site
    _run, march = bill_month(site, org, period="2025-03", readings=("16", "30", "50"), read_date=date(2025, 3, 10))
    a0, a1, a2 = site.accounts
    # Two lines for one account in one file: allocated one after the other (line order).
    data = _file([_row("S1", a0, "30.00"), _row("S2", a1, "49.25"), _row("S3", a0, "20.00"),
                  _row("S4", a2, "500.00")])
    out = bankapply.bank_file_apply(actor=SYSTEM, data=data)
    assert out.problems == [] and (out.applied, out.already, out.lines) == (4, 0, 4)
    paid = {p.external_ref: p for p in Payment.objects.all()}
    assert set(paid) == {"ICBC:S1", "ICBC:S2", "ICBC:S3", "ICBC:S4"}
    # a0 owes 23.60 (Feb) + 23.60 (Mar): 30 + 20 pays both and leaves 2.80 credit — as at the counter.
    b0 = ledger_selectors.account_balance(account_id=a0.pk)
    assert (b0.owed, b0.credit) == (D("0.00"), D("2.80"))
    s1 = JournalEntry.objects.get(idempotency_key=f"payment:{paid['ICBC:S1'].pk}")
    assert [(ln.ledger_account.code, ln.bill_id, ln.amount) for ln in s1.lines.order_by("seq")] == [
        ("CASH:bank", None, D("30.00")), ("RECEIVABLE:WATER", billed.bills[0].pk, D("-16.00")),
        ("RECEIVABLE:ON_BEHALF:SEWAGE", billed.bills[0].pk, D("-7.60")),
        ("RECEIVABLE:WATER", march[0].pk, D("-6.40"))]
    b2 = ledger_selectors.account_balance(account_id=a2.pk)
    assert b2.credit == D("500.00") - D("98.75") - march[2].total
    assert BankBatch.objects.get().applied == 4
    again = bankapply.bank_file_apply(actor=SYSTEM, data=data)
    assert again.duplicate_file is not None and again.applied == 0
    # The same lines in another file (another batch number) post nothing either.
    other = bankapply.bank_file_apply(actor=SYSTEM, data=_file([_row("S1", a0, "30.00")], batch="B002"))
    assert (other.applied, other.already) == (0, 1) and Payment.objects.count() == 4
    report = bankapply.bank_file_reconcile(actor=SYSTEM, data=data)
    assert report.clean and len(report.matched) == 4


def test_bad_files_apply_nothing_and_say_where(billed, org):
    a0 = billed.site.accounts[0]
    good = _file([_row("S1", a0, "10.00"), _row("S2", a0, "5.00")])
    lines = good.decode("gbk").split("\r\n")
    wrong_total = "\r\n".join(lines[:-2] + ["T|2|99.00", ""]).encode("gbk")
    truncated = good[:-20]
    duplicate = "\r\n".join(lines[:2] + [lines[1], "T|3|20.00", ""]).encode("gbk")
    unknown = _file([bankfile.BankRow("S9", "NOPE0001", "某人", D("1.00"), DAY)])
    foreign = _file([_row("S1", a0, "10.00")], merchant="TE")
    for data, field in ((wrong_total, "line 4"), (truncated, "line"), (duplicate, "line 3"),
                        (unknown, "line 2: account_no"), (foreign, "line 2: account_no")):
        out = bankapply.bank_file_apply(actor=SYSTEM, data=data)
        assert out.problems, data
        assert any(p.field.startswith(field) for p in out.problems), [(p.field, p.reason) for p in out.problems]
        assert out.applied == 0
    assert Payment.objects.count() == 0 and BankBatch.objects.count() == 0


def test_a_debit_return_posts_only_what_the_bank_debited(billed, org):
    a0, a1, _a2 = billed.site.accounts
    rows = [bankfile.BankRow("R1", a0.account_no, "住户0", D("23.60"), DAY, "6222000011112222", "0000"),
            bankfile.BankRow("R2", a1.account_no, "住户1", D("49.25"), DAY, "6222000011113333", "3001")]
    out = bankapply.bank_file_apply(actor=SYSTEM, data=_file(rows, kind=bankfile.DEBIT_RETURN))
    assert out.applied == 1 and [f.ref for f in out.failed] == ["R2"]
    assert ledger_selectors.account_balance(account_id=a0.pk).owed == D("0.00")
    assert ledger_selectors.account_balance(account_id=a1.pk).owed == D("49.25")


def test_the_bank_files_screen_checks_applies_and_compares(billed, org, login):
    from django.core.files.uploadedfile import SimpleUploadedFile

    a0 = billed.site.accounts[0]
    data = _file([_row("W1", a0, "23.60")])
    client = login(org.group_admin)

    def post(action, payload=data):
        return client.post("/payments/bank-files/", {"file": SimpleUploadedFile("icbc.txt", payload), "action": action})

    bad = post("apply", data.replace(b"23.60", b"23.6x"))
    assert "Problems" in bad.content.decode() or "问题" in bad.content.decode()
    assert Payment.objects.count() == 0
    assert post("check").context["outcome"].dry_run and Payment.objects.count() == 0
    assert post("apply").context["outcome"].applied == 1 and Payment.objects.count() == 1
    report = post("reconcile").context["report"]
    assert report.clean and len(report.matched) == 1
    assert "ICBC" in client.get("/payments/bank-files/").content.decode()


def test_direct_debit_requests_then_the_return_file(billed, org):
    from ucis.customers import services as customer_services

    a0, a1, a2 = billed.site.accounts
    for account, bank_account in ((a0, "6222020200112233445"), (a1, "6222020200112233446")):
        customer_services.account_update(actor=SYSTEM, account_id=account.pk, reason="签约代扣",
                                         changes={"payment_method": "bank_debit", "debit_bank_account": bank_account})
    data, lines = bankapply.debit_request_export(actor=SYSTEM, company_id=org.water.pk, bank_code="ICBC", on=DAY,
                                                 batch_no="D001")
    request = bankfile.parse_debit_request(data)
    assert lines == 2 and not request.problems and request.encoding == "gbk"
    assert {(r.account_no, r.amount, r.bank_account) for r in request.lines} == {
        (a0.account_no, D("23.60"), "6222020200112233445"), (a1.account_no, D("49.25"), "6222020200112233446")}
    # The bank answers: the first debited, the second refused for lack of funds.
    ret = [bankfile.BankRow(r.ref, r.account_no, r.customer_name, r.amount, DAY, r.bank_account,
                            "0000" if r.account_no == a0.account_no else "3001") for r in request.lines]
    out = bankapply.bank_file_apply(actor=SYSTEM, data=_file(ret, kind=bankfile.DEBIT_RETURN, batch="D001"))
    assert out.applied == 1 and len(out.failed) == 1
    assert ledger_selectors.account_balance(account_id=a0.pk).owed == D("0.00")
    with pytest.raises(DomainError) as err:
        customer_services.account_update(actor=SYSTEM, account_id=a2.pk, reason="x",
                                         changes={"debit_bank_account": "12ab"})
    assert err.value.problems[0].field == "debit_bank_account"


def test_the_debit_bank_account_is_set_on_the_account_change_page(billed, org, login):
    from ucis.customers.models import Account

    account = billed.site.accounts[0]
    client = login(org.admin_b)
    r = client.post(f"/customers/accounts/{account.pk}/change/", {
        "payment_method": "bank_debit", "bill_delivery": account.bill_delivery, "deposit": "0.00",
        "billing_address": account.billing_address, "debit_bank_account": "6222 0202 0011 2233 445", "reason": "签约代扣"})
    assert r.status_code == 302, r.content.decode()[-2000:]
    stored = Account.objects.get(pk=account.pk)
    assert (stored.payment_method, stored.debit_bank_account) == ("bank_debit", "6222020200112233445")
