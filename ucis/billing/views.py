"""Staff screens of bill runs (出账): the list, the start form that queues the calculation, the
run page with its htmx-polled progress bar, totals, exceptions and outliers, approval by a second
person and issue; and a bill with its explained lines and messages (温馨提示)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ucis.billing import notices, selectors, services, tasks
from ucis.kernel.errors import DomainError
from ucis.platform.forms import apply_domain_error
from ucis.platform.i18n import error_text

COMMODITY_CHOICES = [("water", _("Water")), ("gas", _("Gas")), ("electricity", _("Electricity"))]
RUNNING = ("created", "calculating")


class RunStartForm(forms.Form):
    company_id = forms.TypedChoiceField(label=_("company"), coerce=int)
    commodity = forms.ChoiceField(label=_("commodity"), choices=COMMODITY_CHOICES)
    period = forms.RegexField(label=_("Period (YYYY-MM)"), regex=r"^\d{4}-\d{2}$", max_length=7)
    route_ids = forms.TypedMultipleChoiceField(label=_("Routes"), coerce=int, required=False,
                                               help_text=_("None chosen: every route of the company and commodity."))

    def __init__(self, *args: Any, companies: Any = (), routes: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["company_id"].choices = [(c.pk, f"{c.code} {c.name}") for c in companies]
        self.fields["route_ids"].choices = [(r.pk, f"{r.company.code} {r.code} {r.name} ({r.commodity})")
                                            for r in routes]
        self.fields["route_ids"].widget.attrs["size"] = min(10, max(3, len(routes)))


@login_required
@permission_required("billing.view_billrun", raise_exception=True)
def run_list_page(request: HttpRequest) -> HttpResponse:
    page = selectors.runs_page(actor=request.user, status=request.GET.get("status", ""))
    initial = {"period": timezone.localdate().strftime("%Y-%m")}
    form = RunStartForm(request.POST or None, initial=initial, companies=page["companies"], routes=page["routes"])
    if request.method == "POST":
        if not request.user.has_perm("billing.calculate_billrun"):
            raise PermissionDenied
        if form.is_valid():
            try:
                run, waiting = tasks.bill_run_submit(actor=request.user, **form.cleaned_data)
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                if waiting is not None:
                    messages.error(request, error_text(waiting))
                else:
                    messages.success(request, gettext("Bill run %(run)s started: %(count)s account(s) queued for "
                                                      "calculation.") % {"run": run.pk, "count": run.items_total})
                return redirect("billing_run", run_id=run.pk)
    return render(request, "billing/runs.html", {**page, "form": form, "status": request.GET.get("status", "")})


@login_required
@permission_required("billing.view_billrun", raise_exception=True)
def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    review = services.bill_run_review(actor=request.user, run_id=run_id)
    run = review["run"]
    routes = [{**r, "code": review["route_codes"].get(r["route_id"], "")} for r in review["totals"].get("routes", [])]
    for row in review["exceptions"]:
        row["reason"] = selectors.exception_text(row["reason"])
    return render(request, "billing/run.html", {**review, "routes": routes, "percent": selectors.progress(run),
                                                "running": run.status in RUNNING,
                                                "same_person": run.calculated_by_id == request.user.pk,
                                                "print_notices": run.status == "issued"
                                                and request.user.has_perm("billing.view_bill")})


@login_required
@permission_required("billing.view_billrun", raise_exception=True)
def run_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(actor=request.user, run_id=run_id)
    running = run.status in RUNNING
    response = render(request, "billing/_progress.html", {"run": run, "percent": selectors.progress(run),
                                                          "running": running})
    if request.htmx and not running:
        response["HX-Refresh"] = "true"  # calculated: show the totals, exceptions and outliers
    return response


def _run_action(request: HttpRequest, run_id: int, action: Any, done: str) -> HttpResponse:
    try:
        action(actor=request.user, run_id=run_id)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, done)
    return redirect("billing_run", run_id=run_id)


@require_POST
@login_required
@permission_required("billing.view_billrun", raise_exception=True)
def run_calculate(request: HttpRequest, run_id: int) -> HttpResponse:
    """Queue (again) the calculation of a new or interrupted run."""
    return _run_action(request, run_id, tasks.bill_run_queue, gettext("Calculation queued."))


@require_POST
@login_required
@permission_required("billing.view_billrun", raise_exception=True)
def run_approve(request: HttpRequest, run_id: int) -> HttpResponse:
    return _run_action(request, run_id, services.bill_run_approve, gettext("Bill run approved."))


@require_POST
@login_required
@permission_required("billing.view_billrun", raise_exception=True)
def run_issue(request: HttpRequest, run_id: int) -> HttpResponse:
    return _run_action(request, run_id, services.bill_run_issue, gettext("Bill run issued: its bills are due."))


@login_required
@permission_required("billing.view_bill", raise_exception=True)
def bill_page(request: HttpRequest, bill_id: int) -> HttpResponse:
    return render(request, "billing/bill.html", selectors.bill_page(actor=request.user, bill_id=bill_id))


def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@permission_required("billing.view_bill", raise_exception=True)
def run_notices(request: HttpRequest, run_id: int, route_id: int) -> HttpResponse:
    """The payment notices (缴款单) of one route of an issued run: a PDF to print, in walking order."""
    try:
        pdf = notices.bill_notices_render(actor=request.user, run_id=run_id, route_id=route_id)
    except DomainError as exc:
        messages.error(request, error_text(exc))
        return redirect("billing_run", run_id=run_id)
    return pdf_response(pdf, notices.bill_notices_filename(actor=request.user, run_id=run_id, route_id=route_id))


class ArrearsNoticesForm(forms.Form):
    company_id = forms.TypedChoiceField(label=_("company"), coerce=int)
    as_of = forms.DateField(label=_("arrears as of"), widget=forms.DateInput(attrs={"type": "date"}))
    route_id = forms.TypedChoiceField(label=_("Route"), coerce=int, required=False, empty_value=None)
    kind = forms.ChoiceField(label=_("print"), choices=[("dunning", _("Dunning notices (催缴单)")),
                                                       ("home", _("Home-collection list (上门收费清单)"))])

    def __init__(self, *args: Any, companies: Any = (), routes: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["company_id"].choices = [(c.pk, f"{c.code} {c.name}") for c in companies]
        self.fields["route_id"].choices = [("", _("every route"))] + [
            (r.pk, f"{r.company.code} {r.code} {r.name}") for r in routes]


@login_required
@permission_required("billing.view_bill", raise_exception=True)
def arrears_notices_page(request: HttpRequest) -> HttpResponse:
    """Print dunning notices or the home-collection list of the arrears on a day (one PDF)."""
    page = selectors.run_start_choices(actor=request.user)
    form = ArrearsNoticesForm(request.POST or None, initial={"as_of": timezone.localdate()},
                              companies=page["companies"], routes=page["routes"])
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        render_pdf = (notices.dunning_notices_render if data["kind"] == "dunning"
                      else notices.home_collection_list_render)
        try:
            pdf = render_pdf(actor=request.user, company_id=data["company_id"], as_of=data["as_of"],
                             route_id=data["route_id"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            name = "dunning" if data["kind"] == "dunning" else "home-collection"
            return pdf_response(pdf, f"{name}-{data['as_of']:%Y%m%d}.pdf")
    return render(request, "billing/arrears_notices.html", {"form": form})
