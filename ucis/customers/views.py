"""Staff screens of the customer registry: search (live, htmx) and the customer page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ucis.customers import exchange, imports, selectors, services, tasks
from ucis.customers.models import COMMODITIES, CUSTOMER_TYPES, DELIVERY_CHANNELS, ID_TYPES, PAYMENT_METHODS
from ucis.kernel.errors import DomainError
from ucis.platform import audit
from ucis.platform.exports import csv_response
from ucis.platform.forms import apply_domain_error
from ucis.platform.i18n import error_text

KIND_CHOICES = [("auto", _("Anything")), ("number", _("Customer number")), ("name", _("Name")),
                ("initials", _("Pinyin initials")), ("phone", _("Phone")), ("id_number", _("ID number")),
                ("account", _("Account number")), ("meter", _("Meter serial")), ("address", _("Community / building"))]


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False,
                        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}))
    kind = forms.ChoiceField(label=_("By"), choices=KIND_CHOICES, required=False)


@login_required
@permission_required("customers.view_customer", raise_exception=True)
def customer_search_page(request):
    form = SearchForm(request.GET or None)
    results, error = [], None
    if form.is_valid() and form.cleaned_data["q"]:
        try:
            results = selectors.customer_search(actor=request.user, q=form.cleaned_data["q"],
                                                kind=form.cleaned_data["kind"] or "auto")
        except DomainError as exc:
            error = error_text(exc)
    template = "customers/_results.html" if request.htmx else "customers/search.html"
    return render(request, template, {"form": form, "results": results, "error": error})


@login_required
@permission_required("customers.view_customer", raise_exception=True)
def customer_detail(request, customer_id):
    return render(request, "customers/detail.html",
                  selectors.customer_overview(actor=request.user, customer_id=customer_id))


@login_required
@permission_required("customers.view_customer", raise_exception=True)
def customer_history(request, customer_id):
    customer = selectors.customer_get(actor=request.user, customer_id=customer_id)
    return render(request, "platform/_history.html", {"entries": audit.object_history(customer)})


class OpenAccountForm(forms.Form):
    node = forms.ChoiceField(label=_("Unit"))
    customer_no = forms.CharField(label=_("Existing customer number"), required=False,
                                  help_text=_("Leave empty to register a new customer below."))
    name = forms.CharField(label=_("Name"), required=False)
    customer_type = forms.ChoiceField(label=_("customer type"), choices=CUSTOMER_TYPES, required=False)
    phone = forms.CharField(label=_("Phone"), required=False)
    id_type = forms.ChoiceField(label=_("ID document type"), choices=[("", "—"), *ID_TYPES], required=False)
    id_number = forms.CharField(label=_("ID number"), required=False)
    area_code = forms.CharField(label=_("Address code (unit or building)"))
    room = forms.CharField(label=_("room"), required=False)
    floor_area = forms.DecimalField(label=_("floor area (m²)"), required=False, min_value=0)
    residents = forms.IntegerField(label=_("residents"), required=False, min_value=1)
    commodities = forms.MultipleChoiceField(label=_("Commodities"), choices=COMMODITIES,
                                            widget=forms.CheckboxSelectMultiple)
    payment_method = forms.ChoiceField(label=_("payment method"), choices=PAYMENT_METHODS)
    bill_delivery = forms.ChoiceField(label=_("bill delivery"), choices=DELIVERY_CHANNELS)

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["node"].choices = [(u.pk, f"{u.code} {u.name}") for u in units]


@login_required
@permission_required("customers.add_account", raise_exception=True)
def account_open_page(request):
    units = selectors.account_units(actor=request.user)
    form = OpenAccountForm(request.POST or None, units=units)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account = services.account_open_from_counter(
                actor=request.user, customer_no=data["customer_no"].strip(),
                new_customer=services.CustomerInput(
                    name=data["name"], customer_type=data["customer_type"] or "resident", phone=data["phone"],
                    id_type=data["id_type"], id_number=data["id_number"]),
                data=services.AccountInput(
                    node_id=int(data["node"]), commodities=tuple(data["commodities"]),
                    new_premise=services.PremiseInput(area_code=data["area_code"].strip(), room=data["room"],
                                                      floor_area=data["floor_area"], residents=data["residents"]),
                    payment_method=data["payment_method"], bill_delivery=data["bill_delivery"]),
                today=timezone.localdate())
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Account %(no)s opened.") % {"no": account.account_no})
            return redirect("customer_detail", customer_id=account.customer_id)
    return render(request, "customers/open_account.html", {"form": form})


# --- legacy file import / export (CUS-5) ---------------------------------------------------------

PROBLEMS_SHOWN = 500


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Legacy file (CSV or .xlsx)"))


def _problem_rows(report: dict) -> list[dict]:
    """Problems of a stored report in the reader's language."""
    from django.utils.translation import gettext

    rows = []
    for p in report.get("problems", []):
        template = gettext(p["template"])
        try:
            reason = template % p["params"] if p["params"] else template
        except (KeyError, TypeError, ValueError):
            reason = p["reason"]
        rows.append({"row": p["row"], "column": p["column"], "reason": reason})
    return rows


@login_required
@permission_required("customers.import_registry", raise_exception=True)
def registry_import_page(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            imports.import_size_check(upload.size)  # before reading a byte of it into memory
            job = tasks.import_submit(actor=request.user, content=upload.read(), filename=upload.name)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            return redirect("registry_import_job", import_id=job.pk)
    return render(request, "customers/import.html", {
        "form": form, "jobs": imports.import_job_list(actor=request.user),
        "max_mb": round(imports.import_max_bytes() / 1024 / 1024)})


def _job_context(job) -> dict:
    problems = _problem_rows(job.report)
    return {"job": job, "problems": problems[:PROBLEMS_SHOWN], "problem_count": len(problems),
            "more_problems": len(problems) > PROBLEMS_SHOWN, "shown": PROBLEMS_SHOWN,
            "running": job.status in ("queued", "checking", "applying"),
            "file_error": job.report.get("error", "")}


@login_required
@permission_required("customers.import_registry", raise_exception=True)
def registry_import_job(request, import_id):
    job = imports.import_job_get(actor=request.user, job_id=import_id)
    return render(request, "customers/import_job.html", _job_context(job))


@login_required
@permission_required("customers.import_registry", raise_exception=True)
def registry_import_progress(request, import_id):
    job = imports.import_job_get(actor=request.user, job_id=import_id)
    response = render(request, "customers/_import_progress.html", _job_context(job))
    if request.htmx and job.status not in ("queued", "checking", "applying"):
        response["HX-Refresh"] = "true"  # finished: show the whole report
    return response


@require_POST
@login_required
@permission_required("customers.import_registry", raise_exception=True)
def registry_import_apply(request, import_id):
    try:
        tasks.import_apply(actor=request.user, job_id=import_id)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    return redirect("registry_import_job", import_id=import_id)


@login_required
@permission_required("customers.import_registry", raise_exception=True)
def registry_import_problems_csv(request, import_id):
    job = imports.import_job_get(actor=request.user, job_id=import_id)
    return csv_response(f"import-{job.pk}-problems.csv", [_("Row"), _("Column"), _("Reason")],
                        ([p["row"], p["column"], p["reason"]] for p in _problem_rows(job.report)))


@login_required
@permission_required("customers.export_registry", raise_exception=True)
def registry_export(request):

    rows = selectors.registry_export_rows(actor=request.user)
    stamp = timezone.localdate().isoformat()
    if request.GET.get("format") == "xlsx":
        response = HttpResponse(exchange.write_xlsx(rows), content_type=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
        response["Content-Disposition"] = f'attachment; filename="registry-{stamp}.xlsx"'
        return response
    return csv_response(f"registry-{stamp}.csv", exchange.EXPORT_HEADERS, rows)
