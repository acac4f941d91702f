"""Staff screens of tariffs (价格管理): the price book with every version, importing and exporting
tariff files, bill simulation (试算) for clerks answering customers, policy discounts reaching
many accounts, standing reductions of special categories and late-fee policies."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ucis.kernel.errors import DomainError
from ucis.platform.forms import apply_domain_error
from ucis.platform.i18n import problem_text
from ucis.tariffs import rating, selectors, services

COMMODITY_CHOICES = [("water", _("Water")), ("gas", _("Gas")), ("electricity", _("Electricity"))]
FORMAT_CHOICES = [("yaml", "YAML"), ("json", "JSON")]
MAX_FILE_BYTES = 2 * 1024 * 1024


def _problems(exc: DomainError) -> list[dict[str, str]]:
    """Every problem of a refusal at its place, in the user's language."""
    return [{"field": p.field, "reason": problem_text(p)} for p in exc.problems]


def _lines(text: str) -> list[str]:
    """One item per line (or separated by commas, semicolons or spaces)."""
    return [p for p in re.split(r"[\s,，;；]+", text or "") if p]


def explained(lines: list[rating.Line]) -> list[dict[str, Any]]:
    """Rating lines with their explanation in the user's language."""
    return [{"line": ln, "text": selectors.explain(ln.template, ln.params)} for ln in lines]


# --- tariffs ---------------------------------------------------------------------------------------


@login_required
@permission_required("tariffs.view_tariff", raise_exception=True)
def tariff_list_page(request: HttpRequest) -> HttpResponse:
    return render(request, "tariffs/list.html", {"rows": selectors.tariff_rows(actor=request.user)})


@login_required
@permission_required("tariffs.view_tariff", raise_exception=True)
def tariff_detail_page(request: HttpRequest, tariff_id: int) -> HttpResponse:
    return render(request, "tariffs/detail.html", selectors.tariff_page(actor=request.user, tariff_id=tariff_id))


@login_required
@permission_required("tariffs.view_tariff", raise_exception=True)
def tariff_export(request: HttpRequest, tariff_id: int) -> HttpResponse:
    fmt = "json" if request.GET.get("fmt") == "json" else "yaml"
    text = services.tariff_export(actor=request.user, tariff_id=tariff_id, fmt=fmt)
    response = HttpResponse(text, content_type="application/json; charset=utf-8" if fmt == "json"
                            else "application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="tariff-{tariff_id}.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Tariff file (YAML or JSON)"), required=False)
    text = forms.CharField(label=_("or paste the file's text"), required=False,
                           widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}))
    fmt = forms.ChoiceField(label=_("Format"), choices=FORMAT_CHOICES, initial="yaml",
                            help_text=_("A file ending in .json is read as JSON."))
    reason = forms.CharField(label=_("Reason"), max_length=200, help_text=_("Kept in the audit trail."))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_FILE_BYTES:
                raise forms.ValidationError(_("The file is larger than 2 MB."))
            try:
                data["text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError(_("The file is not UTF-8 text.")) from None
            if upload.name.lower().endswith(".json"):
                data["fmt"] = "json"
        if not (data.get("text") or "").strip():
            raise forms.ValidationError(_("Choose a file or paste its text."))
        return data


@login_required
@permission_required("tariffs.import_tariff", raise_exception=True)
def tariff_import_page(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    problems: list[dict[str, str]] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            outcome = services.tariff_import(actor=request.user, text=data["text"], fmt=data["fmt"],
                                             reason=data["reason"])
        except DomainError as exc:
            problems = _problems(exc)
        else:
            messages.success(request, gettext("Tariff %(code)s imported: %(added)s version(s) added, %(ended)s "
                                              "given an end date.") % {
                "code": outcome.tariff.code, "added": len(outcome.versions_added),
                "ended": len(outcome.versions_ended)})
            return redirect("tariff_detail", tariff_id=outcome.tariff.pk)
    return render(request, "tariffs/import.html", {"form": form, "problems": problems})


# --- simulation -------------------------------------------------------------------------------------


@login_required
@permission_required("tariffs.simulate_bill", raise_exception=True)
def simulate_choose_page(request: HttpRequest) -> HttpResponse:
    """Bill simulation from the menu: choose the tariff first."""
    chosen = request.GET.get("tariff", "")
    if chosen.isdigit():
        return redirect("tariff_simulate", tariff_id=int(chosen))
    return render(request, "tariffs/simulate_choose.html", {"rows": selectors.tariff_rows(actor=request.user)})


class SimulateForm(forms.Form):
    period_from = forms.DateField(label=_("usage from"), widget=forms.DateInput(attrs={"type": "date"}))
    period_to = forms.DateField(label=_("usage to (exclusive)"), widget=forms.DateInput(attrs={"type": "date"}))
    total = forms.CharField(label=_("Total usage"), max_length=20)
    peak = forms.CharField(label=_("Peak register"), max_length=20, required=False)
    flat = forms.CharField(label=_("Flat register"), max_length=20, required=False)
    valley = forms.CharField(label=_("Valley register"), max_length=20, required=False)
    residents = forms.IntegerField(label=_("Residents"), min_value=0, max_value=99, initial=0)
    year_to_date = forms.CharField(label=_("Usage billed earlier this year"), max_length=20, initial="0",
                                   help_text=_("For yearly ladders."))
    meters = forms.IntegerField(label=_("Meters"), min_value=1, max_value=999, initial=1)
    meter_size = forms.CharField(label=_("Meter size"), max_length=16, required=False,
                                 help_text=_("e.g. DN40, when the fixed charge depends on it"))

    def usage(self) -> dict[str, str]:
        data = self.cleaned_data
        return {k: data[k] for k in ("total", "peak", "flat", "valley") if (data.get(k) or "").strip()}


@login_required
@permission_required("tariffs.simulate_bill", raise_exception=True)
def tariff_simulate_page(request: HttpRequest, tariff_id: int) -> HttpResponse:
    tariff = selectors.tariff_get(actor=request.user, tariff_id=tariff_id)  # the heading; 404 before anything
    form = SimulateForm(request.POST or None)
    lines = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            lines = services.bill_simulate(actor=request.user, tariff_id=tariff_id, period_from=data["period_from"],
                                           period_to=data["period_to"], usage=form.usage(),
                                           residents=data["residents"], year_to_date=data["year_to_date"] or "0",
                                           meters=data["meters"], meter_size=data["meter_size"].strip())
        except DomainError as exc:
            apply_domain_error(form, exc)
            lines = None
    context: dict[str, Any] = {"form": form, "tariff_id": tariff_id, "tariff": tariff}
    if lines is not None:
        context.update(rows=explained(lines), total=rating.total(lines))
    return render(request, "tariffs/simulate.html", context)


# --- discounts, reductions, late fees ----------------------------------------------------------------


class DiscountForm(forms.Form):
    code = forms.CharField(label=_("code"), max_length=32)
    label = forms.CharField(label=_("label"), max_length=60)
    company = forms.ChoiceField(label=_("company"))
    commodity = forms.ChoiceField(label=_("commodity"), choices=COMMODITY_CHOICES)
    of = forms.CharField(label=_("components"), max_length=200,
                         help_text=_("Codes of the tariff components, separated by commas (e.g. water, sewage)."))
    percent = forms.DecimalField(label=_("percent off"), min_value=0, max_value=100, decimal_places=2,
                                 required=False)
    free_volume = forms.DecimalField(label=_("free volume per month"), min_value=0, decimal_places=2,
                                     required=False)
    active_from = forms.DateField(label=_("from"), widget=forms.DateInput(attrs={"type": "date"}))
    active_to = forms.DateField(label=_("to (exclusive)"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    message = forms.CharField(label=_("bill message"), max_length=200, required=False,
                              help_text=_("Printed on the bills of the accounts it reaches (温馨提示)."))
    area_codes = forms.CharField(label=_("Address areas"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 3}),
                                 help_text=_("Codes of districts, streets, communities or buildings, one per line."))
    account_numbers = forms.CharField(label=_("Account numbers"), required=False,
                                      widget=forms.Textarea(attrs={"rows": 4}),
                                      help_text=_("Pasted, one per line."))
    account_file = forms.FileField(label=_("or a file of account numbers"), required=False,
                                   help_text=_("Text or CSV, the number first on each line."))
    reason = forms.CharField(label=_("Reason"), max_length=200, help_text=_("Kept in the audit trail."))

    def __init__(self, *args: Any, companies: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["company"].choices = [(c.code, f"{c.code} {c.name}") for c in companies]

    def clean_account_file(self) -> list[str]:
        upload = self.cleaned_data.get("account_file")
        if upload is None:
            return []
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        raw = upload.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gbk", errors="replace")
        numbers = []
        for line in text.splitlines():
            first = re.split(r"[,\t;，]", line.strip())[0].strip().strip('"')
            if first and not (not numbers and not any(ch.isdigit() for ch in first)):  # skip a header line
                numbers.append(first)
        return numbers

    def service_input(self) -> tuple[services.DiscountInput, list[str], list[str]]:
        data = self.cleaned_data
        value = services.DiscountInput(
            code=data["code"].strip(), label=data["label"].strip(), company=data["company"],
            commodity=data["commodity"], of=tuple(_lines(data["of"])), active_from=data["active_from"],
            active_to=data["active_to"], percent=data["percent"] or Decimal(0),
            free_volume=data["free_volume"] or Decimal(0), message=data["message"].strip())
        numbers = _lines(data["account_numbers"]) + list(data["account_file"])
        return value, [c.strip() for c in (data["area_codes"] or "").splitlines() if c.strip()], numbers


@login_required
@permission_required("tariffs.view_tariff", raise_exception=True)
def discount_list_page(request: HttpRequest) -> HttpResponse:
    page = selectors.discount_page(actor=request.user)
    form = DiscountForm(request.POST or None, request.FILES or None, companies=page["companies"])
    unknown: list[dict[str, str]] = []
    if request.method == "POST":
        if not request.user.has_perm("tariffs.add_discount"):
            raise PermissionDenied
        if form.is_valid():
            data, areas, numbers = form.service_input()
            try:
                discount, count = services.discount_create(actor=request.user, data=data,
                                                           reason=form.cleaned_data["reason"], area_codes=areas,
                                                           account_numbers=numbers)
            except DomainError as exc:
                unknown = [p for p in _problems(exc) if p["field"].startswith("accounts[")]
                rest = [p for p in exc.problems if not p.field.startswith("accounts[")]
                if rest:
                    apply_domain_error(form, DomainError(problems=rest))
                if unknown:
                    form.add_error("account_numbers", gettext("%(count)s account number(s) are unknown; see the "
                                                              "list below.") % {"count": len(unknown)})
            else:
                messages.success(request, gettext("Discount %(code)s created; it reaches %(count)s account(s).")
                                 % {"code": discount.code, "count": count})
                return redirect("tariff_discounts")
    return render(request, "tariffs/discounts.html", {**page, "form": form, "unknown": unknown})


class ReductionForm(forms.Form):
    company = forms.ChoiceField(label=_("company"))
    commodity = forms.ChoiceField(label=_("commodity"), choices=COMMODITY_CHOICES)
    category = forms.CharField(label=_("special category"), max_length=16,
                               help_text=_("e.g. dibao (低保户), disabled"))
    label = forms.CharField(label=_("label"), max_length=60)
    of = forms.CharField(label=_("components"), max_length=200,
                         help_text=_("Codes of the tariff components, separated by commas (e.g. water, sewage)."))
    percent = forms.DecimalField(label=_("percent off"), min_value=0, max_value=100, decimal_places=2,
                                 required=False)
    free_volume = forms.DecimalField(label=_("free volume per month"), min_value=0, decimal_places=2,
                                     required=False)
    message = forms.CharField(label=_("bill message"), max_length=200, required=False)
    active_from = forms.DateField(label=_("from"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), max_length=200, help_text=_("Kept in the audit trail."))

    def __init__(self, *args: Any, companies: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["company"].choices = [(c.code, f"{c.code} {c.name}") for c in companies]


class LateFeeForm(forms.Form):
    company = forms.ChoiceField(label=_("company"))
    commodity = forms.ChoiceField(label=_("commodity"), choices=COMMODITY_CHOICES)
    grace_days = forms.IntegerField(label=_("grace days"), min_value=0, max_value=365, initial=15)
    rates = forms.CharField(label=_("daily rates"), widget=forms.Textarea(attrs={"rows": 3}),
                            help_text=_("One customer type per line: type, rate in the year the bill fell due, "
                                        "rate in later years — e.g. resident, 0.001, 0.003"))
    minimum = forms.DecimalField(label=_("minimum fee"), min_value=0, decimal_places=2, initial=Decimal("0"))
    active_from = forms.DateField(label=_("from"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), max_length=200, help_text=_("Kept in the audit trail."))

    def __init__(self, *args: Any, companies: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["company"].choices = [(c.code, f"{c.code} {c.name}") for c in companies]

    def clean_rates(self) -> dict[str, tuple[str, str]]:
        rates = {}
        for line in (self.cleaned_data.get("rates") or "").splitlines():
            parts = [p.strip() for p in re.split(r"[,，\s]+", line.strip()) if p.strip()]
            if not parts:
                continue
            if len(parts) != 3:
                raise forms.ValidationError(_("Each line needs a customer type and two rates: %(line)s"),
                                            params={"line": line.strip()})
            rates[parts[0]] = (parts[1], parts[2])
        if not rates:
            raise forms.ValidationError(_("Give the rates of at least one customer type."))
        return rates


@login_required
@permission_required("tariffs.view_tariff", raise_exception=True)
def policy_page(request: HttpRequest) -> HttpResponse:
    """Standing reductions of special categories and late-fee policies: the lists and a form each."""
    page = selectors.policy_page(actor=request.user)
    post = request.POST if request.method == "POST" else None
    kind = request.POST.get("kind") if post else None
    reduction_form = ReductionForm(post if kind == "reduction" else None, companies=page["companies"],
                                   prefix="r")
    fee_form = LateFeeForm(post if kind == "latefee" else None, companies=page["companies"], prefix="f")
    if kind == "reduction":
        if not request.user.has_perm("tariffs.add_standingreduction"):
            raise PermissionDenied
        if reduction_form.is_valid():
            d = reduction_form.cleaned_data
            try:
                services.standing_reduction_set(
                    actor=request.user, company=d["company"], commodity=d["commodity"], category=d["category"].strip(),
                    label=d["label"].strip(), of=_lines(d["of"]), active_from=d["active_from"], reason=d["reason"],
                    percent=d["percent"] or Decimal(0), free_volume=d["free_volume"] or Decimal(0),
                    message=d["message"].strip())
            except DomainError as exc:
                apply_domain_error(reduction_form, exc)
            else:
                messages.success(request, gettext("Standing reduction saved."))
                return redirect("tariff_policies")
    elif kind == "latefee":
        if not request.user.has_perm("tariffs.add_latefeepolicy"):
            raise PermissionDenied
        if fee_form.is_valid():
            d = fee_form.cleaned_data
            try:
                services.late_fee_policy_set(actor=request.user, company=d["company"], commodity=d["commodity"],
                                             grace_days=d["grace_days"], rates=d["rates"], minimum=str(d["minimum"]),
                                             active_from=d["active_from"], reason=d["reason"])
            except DomainError as exc:
                apply_domain_error(fee_form, exc)
            else:
                messages.success(request, gettext("Late-fee policy saved."))
                return redirect("tariff_policies")
    return render(request, "tariffs/policies.html", {**page, "reduction_form": reduction_form, "fee_form": fee_form})
