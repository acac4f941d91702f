"""Staff screens of the ledger: an account's balance and statement with its correction orders and
the form to request one; the approvers' queue; one order with its history."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ucis.kernel.errors import DomainError
from ucis.ledger import corrections, selectors
from ucis.ledger.models import CORRECTION_KINDS
from ucis.platform.audit import object_history
from ucis.platform.forms import apply_domain_error
from ucis.platform.i18n import error_text


class CorrectionForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=CORRECTION_KINDS)
    bill_id = forms.IntegerField(label=_("Bill"), required=False)
    entry_id = forms.IntegerField(label=_("Journal entry"), required=False,
                                 help_text=_("for a receivable reversal"))
    amount = forms.CharField(label=_("amount"), max_length=16, required=False,
                             help_text=_("+ the customer owes more, − less"))
    usage = forms.CharField(label=_("usage"), max_length=16, required=False, help_text=_("for usage back-billing"))
    days = forms.IntegerField(label=_("deducted days"), required=False)
    active_from = forms.DateField(label=_("from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    active_to = forms.DateField(label=_("to (exclusive)"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("reason"), max_length=300)


@login_required
@permission_required("ledger.view_journalentry", raise_exception=True)
def account_ledger_page(request: HttpRequest, account_id: int) -> HttpResponse:
    """应收账: what the account owes bill by bill, its postings, its correction orders."""
    position = selectors.account_position(actor=request.user, account_id=account_id)
    form = CorrectionForm(request.POST or None, initial={"bill_id": request.GET.get("bill")})
    if request.method == "POST":
        if not request.user.has_perm("ledger.request_correction"):
            raise PermissionDenied
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
            try:
                order = corrections.correction_request(actor=request.user, account_id=account_id, **data)
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                messages.success(request, gettext("Correction requested; another person approves it."))
                return redirect("ledger_correction", correction_id=order.pk)
    return render(request, "ledger/account.html", {
        **position, "form": form,
        "statement": selectors.account_statement(actor=request.user, account_id=position["account"].pk),
        "orders": selectors.account_corrections(actor=request.user, account_id=position["account"].pk)})


@login_required
@permission_required("ledger.view_correctionorder", raise_exception=True)
def corrections_page(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "requested")
    return render(request, "ledger/corrections.html", {
        "orders": selectors.correction_list(actor=request.user, status=status)[:200], "status": status})


@login_required
@permission_required("ledger.view_correctionorder", raise_exception=True)
def correction_page(request: HttpRequest, correction_id: int) -> HttpResponse:
    order = selectors.correction_get(actor=request.user, order_id=correction_id)
    return render(request, "ledger/correction.html", {"order": order, "history": object_history(order)})


@login_required
@require_POST
def correction_decide(request: HttpRequest, correction_id: int) -> HttpResponse:
    approve = request.POST.get("decision") == "approve"
    try:
        corrections.correction_decide(actor=request.user, order_id=correction_id, approve=approve,
                                      note=request.POST.get("note", ""))
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, gettext("Approved and posted.") if approve else gettext("Rejected."))
    return redirect("ledger_correction", correction_id=correction_id)
