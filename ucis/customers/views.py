"""Staff screens of the customer registry: search (live, htmx) and the customer page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ucis.customers import exchange, extras, imports, selectors, services, tasks
from ucis.customers.models import (
    ATTACHMENT_KINDS,
    COMMODITIES,
    CUSTOMER_TYPES,
    DELIVERY_CHANNELS,
    EXTRA_ENTITIES,
    EXTRA_FIELD_TYPES,
    GRADES,
    ID_TYPES,
    PAYMENT_METHODS,
)
from ucis.kernel.errors import DomainError
from ucis.platform import audit
from ucis.platform.downloads import stored_file_response
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


def extra_filters(params) -> dict[str, str]:
    """``?extra.<code>=value`` query parameters → ``{code: value}`` (blank ones dropped)."""
    return {k.removeprefix("extra."): v for k, v in params.items() if k.startswith("extra.") and v.strip()}


@login_required
@permission_required("customers.view_customer", raise_exception=True)
def customer_search_page(request):
    form = SearchForm(request.GET or None)
    extra = extra_filters(request.GET)
    results, error = [], None
    if form.is_valid() and (form.cleaned_data["q"] or extra):
        try:
            results = selectors.customer_search(actor=request.user, q=form.cleaned_data["q"],
                                                kind=form.cleaned_data["kind"] or "auto", extra=extra)
        except DomainError as exc:
            error = error_text(exc)
    if request.htmx:
        return render(request, "customers/_results.html", {"form": form, "results": results, "error": error,
                                                           "extra": extra})
    inputs = [{"definition": d, "value": extra.get(d.code, "")}
              for d in selectors.extra_field_definitions_for_actor(actor=request.user, entity="customer")]
    return render(request, "customers/search.html", {"form": form, "results": results, "error": error,
                                                     "extra": extra, "extra_inputs": inputs})


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
    id_scan = forms.FileField(label=_("ID document scan"), required=False,
                              help_text=_("PDF, JPEG, PNG, WebP or TIFF."))
    contract = forms.FileField(label=_("Contract"), required=False)

    def __init__(self, *args, units=(), customer_fields=(), premise_fields=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["node"].choices = [(u.pk, f"{u.code} {u.name}") for u in units]
        # Required extra fields are checked by the service: an existing customer may leave them as they are.
        self.fields.update(extra_form_fields(customer_fields, prefix="extra."))
        self.fields.update(extra_form_fields(premise_fields, prefix="premise.extra."))

    def extra_values(self, prefix: str) -> dict[str, str]:
        return {name.removeprefix(prefix): value for name, value in self.cleaned_data.items()
                if name.startswith(prefix)}


@login_required
@permission_required("customers.add_account", raise_exception=True)
def account_open_page(request):
    units = selectors.account_units(actor=request.user)
    form = OpenAccountForm(request.POST or None, request.FILES or None, units=units,
                           customer_fields=selectors.extra_field_definitions_for_actor(actor=request.user,
                                                                                       entity="customer"),
                           premise_fields=selectors.extra_field_definitions_for_actor(actor=request.user,
                                                                                      entity="premise"))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account = services.account_open_from_counter(
                actor=request.user, customer_no=data["customer_no"].strip(),
                new_customer=services.CustomerInput(
                    name=data["name"], customer_type=data["customer_type"] or "resident", phone=data["phone"],
                    id_type=data["id_type"], id_number=data["id_number"], extra=form.extra_values("extra.")),
                data=services.AccountInput(
                    node_id=int(data["node"]), commodities=tuple(data["commodities"]),
                    new_premise=services.PremiseInput(area_code=data["area_code"].strip(), room=data["room"],
                                                      floor_area=data["floor_area"], residents=data["residents"],
                                                      extra=form.extra_values("premise.extra.")),
                    payment_method=data["payment_method"], bill_delivery=data["bill_delivery"]),
                today=timezone.localdate(),
                documents=[(kind, data[kind]) for kind in ("id_scan", "contract") if data.get(kind)])
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

# --- extra fields and attachments (CUS-4) ---------------------------------------------------------


def extra_form_fields(definitions, *, prefix: str = "extra.") -> dict:
    """Form fields built from extra-field definitions, named ``<prefix><code>``. Values arrive as
    text and are converted and checked by the service (one set of rules and messages); the widgets
    only help: numbers, dates, selects, required marked."""
    fields = {}
    for d in definitions:
        label = f"{d.label} *" if d.required else d.label
        attrs = {}
        if d.field_type == "date":
            widget = forms.DateInput(attrs={"type": "date", "min": d.min_value or None, "max": d.max_value or None})
        elif d.field_type in ("integer", "decimal"):
            widget = forms.NumberInput(attrs={"step": "1" if d.field_type == "integer" else "any",
                                              "min": d.min_value or None, "max": d.max_value or None})
        elif d.field_type == "boolean":
            widget = forms.Select(choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))])
        elif d.field_type == "choice":
            widget = forms.Select(choices=[("", "—"), *[(c, c) for c in d.choices]])
        else:
            if d.max_value:
                attrs["maxlength"] = d.max_value
            widget = forms.TextInput(attrs=attrs)
        fields[f"{prefix}{d.code}"] = forms.CharField(label=label, required=False, help_text=d.help_text,
                                                      widget=widget, strip=False)
    return fields


def _initial(definitions, values, prefix="extra.") -> dict[str, str]:
    initial = {}
    for d in definitions:
        value = values.get(d.code)
        if value is not None:
            initial[f"{prefix}{d.code}"] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return initial


class ExtraValuesForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the change"), required=False, max_length=200)

    def __init__(self, *args, definitions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(extra_form_fields(definitions))
        self.order_fields([f"extra.{d.code}" for d in definitions] + ["reason"])

    def values(self) -> dict[str, str]:
        return {k.removeprefix("extra."): v for k, v in self.cleaned_data.items() if k.startswith("extra.")}


class AttachmentForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=ATTACHMENT_KINDS)
    file = forms.FileField(label=_("file"), required=False, help_text=_("PDF, JPEG, PNG, WebP or TIFF."))
    note = forms.CharField(label=_("note"), required=False, max_length=200)


class AttachmentDeleteForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


@login_required
@permission_required("customers.change_customer", raise_exception=True)
def customer_extra_edit(request, customer_id):
    page = selectors.customer_extra_page(actor=request.user, customer_id=customer_id)
    customer, definitions = page["customer"], page["definitions"]
    form = ExtraValuesForm(request.POST or None, definitions=definitions,
                           initial=_initial(definitions, customer.extra))
    if request.method == "POST" and form.is_valid():
        try:
            extras.customer_extra_set(actor=request.user, customer_id=customer.pk, values=form.values(),
                                      reason=form.cleaned_data["reason"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("customer_detail", customer_id=customer.pk)
    return render(request, "customers/extra_form.html", {"form": form, "customer": customer,
                                                         "title": _("Extra fields")})


@login_required
@permission_required("customers.change_premise", raise_exception=True)
def premise_extra_edit(request, premise_id):
    page = selectors.premise_extra_page(actor=request.user, premise_id=premise_id)
    premise, definitions = page["premise"], page["definitions"]
    form = ExtraValuesForm(request.POST or None, definitions=definitions,
                           initial=_initial(definitions, premise.extra))
    back = request.GET.get("customer") or request.POST.get("customer") or ""
    if request.method == "POST" and form.is_valid():
        try:
            extras.premise_extra_set(actor=request.user, premise_id=premise.pk, values=form.values(),
                                     reason=form.cleaned_data["reason"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            if back.isdigit():
                return redirect("customer_detail", customer_id=int(back))
            return redirect("customer_search")
    return render(request, "customers/extra_form.html", {"form": form, "premise": premise, "back": back,
                                                         "title": _("Extra fields of %(premise)s")
                                                         % {"premise": premise.address}})


@login_required
@require_POST
@permission_required("customers.add_customerattachment", raise_exception=True)
def attachment_upload(request, customer_id):
    customer = selectors.customer_get(actor=request.user, customer_id=customer_id)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            attachment = extras.attachment_add(actor=request.user, customer_id=customer.pk, kind=data["kind"],
                                               upload=data["file"], note=data["note"])
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, _("Attached %(name)s.") % {"name": attachment.original_name})
    else:
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("customer_detail", customer_id=customer.pk)


@login_required
@permission_required("customers.view_customerattachment", raise_exception=True)
def attachment_download(request, attachment_id):
    attachment = extras.attachment_download(actor=request.user, attachment_id=attachment_id)
    return stored_file_response(attachment.file, filename=attachment.original_name,
                                content_type=attachment.content_type)


@login_required
@require_POST
@permission_required("customers.delete_customerattachment", raise_exception=True)
def attachment_delete(request, attachment_id):
    attachment = selectors.attachment_get(actor=request.user, attachment_id=attachment_id)
    form = AttachmentDeleteForm(request.POST)
    if form.is_valid():
        try:
            extras.attachment_delete(actor=request.user, attachment_id=attachment.pk,
                                     reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, _("Deleted %(name)s.") % {"name": attachment.original_name})
    else:
        messages.error(request, _("Say why the attachment is deleted."))
    return redirect("customer_detail", customer_id=attachment.customer_id)


class ExtraFieldForm(forms.Form):
    entity = forms.ChoiceField(label=_("applies to"), choices=EXTRA_ENTITIES)
    company = forms.ChoiceField(label=_("company"), required=False)
    code = forms.CharField(label=_("code"), max_length=40,
                           help_text=_("Lower-case letters, digits and _; used in exports and searches."))
    label = forms.CharField(label=_("label"), max_length=100)
    field_type = forms.ChoiceField(label=_("type"), choices=EXTRA_FIELD_TYPES)
    required = forms.BooleanField(label=_("required"), required=False)
    choices = forms.CharField(label=_("choices"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=_("For a choice field: one choice per line."))
    min_value = forms.CharField(label=_("minimum"), required=False, max_length=40,
                                help_text=_("Numbers: the smallest value; dates: YYYY-MM-DD; text: fewest characters."))
    max_value = forms.CharField(label=_("maximum"), required=False, max_length=40)
    pattern = forms.CharField(label=_("pattern (regular expression)"), required=False, max_length=200)
    help_text = forms.CharField(label=_("help text"), required=False, max_length=200)
    display_order = forms.IntegerField(label=_("display order"), min_value=0, max_value=32767, initial=0)
    is_active = forms.BooleanField(label=_("active"), required=False, initial=True)
    reason = forms.CharField(label=_("Reason for the change"), required=False, max_length=200)

    FIXED = ("entity", "company", "code", "field_type")

    def __init__(self, *args, companies=(), group_scope=False, definition=None, **kwargs):
        super().__init__(*args, **kwargs)
        scopes = ([("", _("The whole group"))] if group_scope else []) + [(c.pk, c.name) for c in companies]
        self.fields["company"].choices = scopes
        if definition is not None:
            for name in self.FIXED:
                self.fields[name].disabled = True
        else:
            del self.fields["is_active"], self.fields["reason"]

    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["choices"].splitlines() if line.strip()]


@login_required
@permission_required("customers.view_extrafielddefinition", raise_exception=True)
def extra_field_list(request):
    page = selectors.extra_field_admin_page(actor=request.user)
    form = ExtraFieldForm(request.POST or None, companies=page["companies"], group_scope=page["group_scope"])
    if request.method == "POST":
        if not request.user.has_perm("customers.add_extrafielddefinition"):
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                definition = extras.extra_field_define(
                    actor=request.user, company_id=int(data["company"]) if data["company"] else None,
                    data=extras.ExtraFieldInput(
                        entity=data["entity"], code=data["code"], label=data["label"], field_type=data["field_type"],
                        required=data["required"], choices=form.choice_list(), min_value=data["min_value"],
                        max_value=data["max_value"], pattern=data["pattern"], help_text=data["help_text"],
                        display_order=data["display_order"] or 0))
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("Extra field %(field)s defined.") % {"field": definition})
                return redirect("extra_field_list")
    return render(request, "customers/extra_fields.html", {**page, "form": form})


@login_required
@permission_required("customers.change_extrafielddefinition", raise_exception=True)
def extra_field_edit(request, extra_field_id):
    definition = selectors.extra_field_get(actor=request.user, extra_field_id=extra_field_id)
    form = ExtraFieldForm(request.POST or None, definition=definition, companies=[definition.company] if
                          definition.company else [], group_scope=definition.company is None, initial={
                              "entity": definition.entity, "company": definition.company_id or "",
                              "code": definition.code, "label": definition.label,
                              "field_type": definition.field_type, "required": definition.required,
                              "choices": "\n".join(definition.choices), "min_value": definition.min_value,
                              "max_value": definition.max_value, "pattern": definition.pattern,
                              "help_text": definition.help_text, "display_order": definition.display_order,
                              "is_active": definition.is_active})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            extras.extra_field_update(
                actor=request.user, extra_field_id=definition.pk, reason=data["reason"], label=data["label"],
                required=data["required"], choices=form.choice_list(), min_value=data["min_value"],
                max_value=data["max_value"], pattern=data["pattern"], help_text=data["help_text"],
                display_order=data["display_order"] or 0, is_active=data["is_active"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("extra_field_list")
    return render(request, "customers/extra_field_form.html", {"form": form, "definition": definition})


@login_required
@permission_required("customers.export_customer", raise_exception=True)
def customer_export(request):
    """Customers the user sees (narrowed by ``?extra.<code>=value``) with one column per extra field."""
    try:
        export = selectors.customer_export(actor=request.user, extra=extra_filters(request.GET))
    except DomainError as exc:
        messages.error(request, error_text(exc))
        return redirect("customer_search")
    return csv_response("customers.csv", export["header"], export["rows"])


# --- changing and closing -------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, help_text=_("Kept in the audit trail."))


class CustomerEditForm(ReasonForm):
    name = forms.CharField(label=_("Name"))
    customer_type = forms.ChoiceField(label=_("customer type"), choices=CUSTOMER_TYPES)
    grade = forms.ChoiceField(label=_("grade"), choices=GRADES)
    phone = forms.CharField(label=_("Phone"), required=False)
    email = forms.CharField(label=_("email"), required=False)
    id_type = forms.ChoiceField(label=_("ID document type"), choices=[("", "—"), *ID_TYPES], required=False)
    id_number = forms.CharField(label=_("ID number"), required=False)
    field_order = ["name", "customer_type", "grade", "phone", "email", "id_type", "id_number", "reason"]


class AccountChangeForm(ReasonForm):
    payment_method = forms.ChoiceField(label=_("payment method"), choices=PAYMENT_METHODS)
    bill_delivery = forms.ChoiceField(label=_("bill delivery"), choices=DELIVERY_CHANNELS)
    deposit = forms.DecimalField(label=_("deposit"), decimal_places=2, max_digits=12)
    billing_address = forms.CharField(label=_("billing address"), max_length=200, required=False)
    debit_bank_account = forms.CharField(label=_("direct-debit bank account"), max_length=40, required=False,
                                         help_text=_("for payment by bank direct debit; left blank, it stays as it is"))
    field_order = ["payment_method", "bill_delivery", "deposit", "billing_address", "debit_bank_account", "reason"]


class AccountCloseForm(ReasonForm):
    closed_date = forms.DateField(label=_("closed"), widget=forms.DateInput(attrs={"type": "date"}),
                                  help_text=_("Service agreements end on this day (it is not billed)."))
    confirm = forms.BooleanField(label=_("Yes, close this account"))
    field_order = ["closed_date", "reason", "confirm"]


class MeterReplaceForm(ReasonForm):
    new_meter_id = forms.TypedChoiceField(label=_("New meter"), coerce=int)
    replaced_date = forms.DateField(label=_("Replaced on"), widget=forms.DateInput(attrs={"type": "date"}))
    removal_reading = forms.DecimalField(label=_("reading at removal"), decimal_places=2, max_digits=14)
    install_reading = forms.DecimalField(label=_("reading at install"), decimal_places=2, max_digits=14,
                                         initial=0)
    field_order = ["new_meter_id", "replaced_date", "removal_reading", "install_reading", "reason"]

    def __init__(self, *args, spares=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_meter_id"].choices = [(m.pk, f"{m.serial} {m.get_meter_type_display()}") for m in spares]


class MeterRemoveForm(ReasonForm):
    removed_date = forms.DateField(label=_("removed"), widget=forms.DateInput(attrs={"type": "date"}))
    removal_reading = forms.DecimalField(label=_("reading at removal"), decimal_places=2, max_digits=14)
    field_order = ["removed_date", "removal_reading", "reason"]


def _changed(form: forms.Form) -> dict:
    # Only what the clerk touched: masked phone/ID numbers shown in the form are never written back.
    return {name: form.cleaned_data[name] for name in form.changed_data if name != "reason"}


def _change_page(request, form, *, title, customer_id, testid):
    return render(request, "customers/change_form.html", {"form": form, "title": title, "customer_id": customer_id,
                                                          "testid": testid})


@login_required
@permission_required("customers.change_customer", raise_exception=True)
def customer_edit(request, customer_id):
    customer = selectors.customer_get(actor=request.user, customer_id=customer_id)
    contact = selectors.customer_contact(actor=request.user, customer=customer)
    form = CustomerEditForm(request.POST or None, initial={
        "name": customer.name, "customer_type": customer.customer_type, "grade": customer.grade,
        "email": customer.email, "id_type": customer.id_type, **contact})
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(actor=request.user, customer_id=customer.pk, changes=_changed(form),
                                     reason=form.cleaned_data["reason"], today=timezone.localdate())
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("customer_detail", customer_id=customer.pk)
    return _change_page(request, form, title=_("Edit %(customer)s") % {"customer": customer.name},
                        customer_id=customer.pk, testid="customer-edit")


@login_required
@permission_required("customers.change_account", raise_exception=True)
def account_change(request, account_id):
    account = selectors.account_get(actor=request.user, account_id=account_id)
    form = AccountChangeForm(request.POST or None, initial={
        "payment_method": account.payment_method, "bill_delivery": account.bill_delivery,
        "deposit": account.deposit, "billing_address": account.billing_address,
        # The bank account is shown only to staff who may see sensitive fields.
        "debit_bank_account": account.debit_bank_account if request.user.has_perm("customers.view_sensitive") else ""})
    if request.method == "POST" and form.is_valid():
        try:
            services.account_update(actor=request.user, account_id=account.pk, changes=_changed(form),
                                    reason=form.cleaned_data["reason"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("customer_detail", customer_id=account.customer_id)
    return _change_page(request, form, title=_("Change account %(no)s") % {"no": account.account_no},
                        customer_id=account.customer_id, testid="account-change")


@login_required
@permission_required("customers.change_account", raise_exception=True)
def account_close(request, account_id):
    account = selectors.account_get(actor=request.user, account_id=account_id)
    form = AccountCloseForm(request.POST or None, initial={"closed_date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            services.account_close(actor=request.user, account_id=account.pk,
                                   closed_date=form.cleaned_data["closed_date"], reason=form.cleaned_data["reason"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Account %(no)s closed.") % {"no": account.account_no})
            return redirect("customer_detail", customer_id=account.customer_id)
    return _change_page(request, form, title=_("Close account %(no)s") % {"no": account.account_no},
                        customer_id=account.customer_id, testid="account-close")


@login_required
@permission_required("customers.change_meter", raise_exception=True)
def meter_replace(request, meter_id):
    page = selectors.meter_replace_page(actor=request.user, meter_id=meter_id)
    form = MeterReplaceForm(request.POST or None, spares=page["spares"], initial={"replaced_date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.meter_replace(actor=request.user, meter_id=page["meter"].pk, new_meter_id=data["new_meter_id"],
                                   replaced_date=data["replaced_date"], removal_reading=data["removal_reading"],
                                   install_reading=data["install_reading"], reason=data["reason"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Meter replaced."))
            return redirect("customer_detail", customer_id=page["customer_id"])
    return _change_page(request, form, title=_("Replace meter %(serial)s") % {"serial": page["meter"].serial},
                        customer_id=page["customer_id"], testid="meter-replace")


@login_required
@permission_required("customers.change_meter", raise_exception=True)
def meter_remove(request, meter_id):
    page = selectors.meter_replace_page(actor=request.user, meter_id=meter_id)
    form = MeterRemoveForm(request.POST or None, initial={"removed_date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.meter_remove(actor=request.user, meter_id=page["meter"].pk, removed_date=data["removed_date"],
                                  removal_reading=data["removal_reading"], reason=data["reason"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Meter removed."))
            if page["customer_id"]:
                return redirect("customer_detail", customer_id=page["customer_id"])
            return redirect("customer_search")
    return _change_page(request, form, title=_("Remove meter %(serial)s") % {"serial": page["meter"].serial},
                        customer_id=page["customer_id"], testid="meter-remove")
