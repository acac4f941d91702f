"""Staff screens of payments: the counter (find the customer, see what is owed, take the money,
print the receipt), the clerk's day with the shift close, and the settlement centre's day."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ucis.billing.printing import yuan_in_words
from ucis.kernel.errors import DomainError
from ucis.org import selectors as org_selectors
from ucis.payments import bankapply, online, selectors, services
from ucis.platform.forms import apply_domain_error


class PaymentForm(forms.Form):
    amount = forms.CharField(label=_("Amount (yuan)"), max_length=16)
    payer_name = forms.CharField(label=_("payer"), max_length=60, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput)


class ShiftCloseForm(forms.Form):
    counted_cash = forms.CharField(label=_("cash counted"), max_length=16)
    note = forms.CharField(label=_("note"), max_length=200, required=False)


class DepositForm(forms.Form):
    node_id = forms.TypedChoiceField(label=_("Unit"), coerce=int)
    amount = forms.CharField(label=_("amount"), max_length=16)
    bank_ref = forms.CharField(label=_("deposit slip number"), max_length=64)

    def __init__(self, *args: Any, units: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["node_id"].choices = [(u.pk, f"{u.code} {u.name}") for u in units]


@login_required
@permission_required("payments.collect_payment", raise_exception=True)
def counter_page(request: HttpRequest) -> HttpResponse:
    """营业厅收费: search, then the account with its open bills and the payment form."""
    q = request.GET.get("q", "").strip()
    context: dict[str, Any] = {"q": q, "results": []}
    if q:
        try:
            context["results"] = selectors.counter_search(actor=request.user, q=q)
        except DomainError as exc:
            context["error"] = "; ".join(p.reason for p in exc.problems)
    return render(request, "payments/counter.html", context)


@login_required
@permission_required("payments.collect_payment", raise_exception=True)
def counter_account_page(request: HttpRequest, account_id: int) -> HttpResponse:
    data = selectors.counter_account(actor=request.user, account_id=account_id)
    owed = data["balance"].owed
    form = PaymentForm(request.POST or None, initial={"amount": owed if owed > 0 else "",
                                                      "idempotency_key": uuid.uuid4().hex})
    if request.method == "POST" and form.is_valid():
        try:
            outcome = services.payment_post(actor=request.user, account_id=account_id,
                                            amount=form.cleaned_data["amount"], channel="counter",
                                            external_ref=form.cleaned_data["idempotency_key"],
                                            payer_name=form.cleaned_data["payer_name"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            return redirect("payments_receipt", payment_id=outcome.payment.pk)
    return render(request, "payments/account.html", {**data, "form": form})


@login_required
@permission_required("payments.view_payment", raise_exception=True)
def receipt_page(request: HttpRequest, payment_id: int) -> HttpResponse:
    """The printable receipt (收据) of a payment."""
    outcome = selectors.payment_outcome(actor=request.user, payment_id=payment_id)
    return render(request, "payments/receipt.html", {
        "outcome": outcome, "payment": outcome.payment, "receipt_no": selectors.receipt_no(outcome.payment),
        "customer": outcome.payment.account.customer, "amount_words": yuan_in_words(outcome.payment.amount)})


@login_required
@permission_required("payments.collect_payment", raise_exception=True)
def my_day_page(request: HttpRequest) -> HttpResponse:
    """The clerk's takings today by channel and the shift close (交班)."""
    today = timezone.localdate()
    form = ShiftCloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.shift_close(actor=request.user, business_date=today, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, gettext("Shift closed."))
            return redirect("payments_my_day")
    return render(request, "payments/my_day.html", {**selectors.my_day(actor=request.user, business_date=today),
                                                     "form": form})


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return timezone.localdate()


@login_required
@permission_required("payments.view_settlement", raise_exception=True)
def settlement_page(request: HttpRequest) -> HttpResponse:
    """结算中心: one company's day across all its units."""
    companies = list(org_selectors.org_node_list(actor=request.user, kind="company"))
    own = request.user.node.company_id or request.user.node_id
    company_id = int(request.GET.get("company") or own or 0) if str(request.GET.get("company", "0")).isdigit() else own
    day = _day(request.GET.get("day", ""))
    units = org_selectors.org_node_list(actor=request.user)
    form = DepositForm(request.POST or None, units=[u for u in units if (u.company_id or u.pk) == company_id])
    if request.method == "POST" and form.is_valid():
        try:
            services.deposit_record(actor=request.user, business_date=day, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, gettext("Deposit recorded."))
            return redirect(f"{request.path}?company={company_id}&day={day.isoformat()}")
    report = selectors.settlement(actor=request.user, company_id=company_id, business_date=day) if company_id else {}
    return render(request, "payments/settlement.html", {"report": report, "companies": companies,
                                                         "company_id": company_id, "day": day, "form": form})


@csrf_exempt
@require_POST
def wechat_notify(request: HttpRequest) -> HttpResponse:
    """WeChat Pay's notify URL (no session: the notice's signature is its authentication)."""
    status, body, content_type = online.wechat_notice_handle(
        headers=dict(request.headers), body=request.body, remote_addr=request.META.get("REMOTE_ADDR", ""))
    return HttpResponse(body, status=status, content_type=content_type)


@csrf_exempt
@require_POST
def alipay_notify(request: HttpRequest) -> HttpResponse:
    """Alipay's notify URL: form parameters in, exactly ``success`` out."""
    status, body, content_type = online.alipay_notify_handle(
        params={k: request.POST.get(k, "") for k in request.POST}, remote_addr=request.META.get("REMOTE_ADDR", ""))
    return HttpResponse(body, status=status, content_type=content_type)


class BankFileForm(forms.Form):
    file = forms.FileField(label=_("Bank file"))
    encoding = forms.ChoiceField(label=_("encoding"), required=False,
                                 choices=[("", _("Decide from the file")), ("gbk", "GBK"), ("utf-8", "UTF-8")])


@login_required
@permission_required("payments.import_bankfile", raise_exception=True)
def bank_files_page(request: HttpRequest) -> HttpResponse:
    """银电互联: check a bank file (every problem by line), apply it (all or nothing), or compare it
    with what was posted (the exceptions report); the files applied so far."""
    form = BankFileForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"form": form}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data["file"].read()
        encoding = form.cleaned_data["encoding"] or None
        action = request.POST.get("action", "check")
        try:
            if action == "reconcile":
                context["report"] = bankapply.bank_file_reconcile(actor=request.user, data=data, encoding=encoding)
            else:
                context["outcome"] = bankapply.bank_file_apply(actor=request.user, data=data, encoding=encoding,
                                                               dry_run=action != "apply")
        except DomainError as exc:
            apply_domain_error(form, exc)
    context["batches"] = selectors.bank_batches(actor=request.user)
    return render(request, "payments/bank_files.html", context)
