"""Staff screens of the service desk: the work-order console (工单控制台), the agent screen the
phone system pops up, an order with its actions and timeline, the order list, statistics, outages."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, ClassVar

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ucis.kernel.errors import DomainError
from ucis.platform.forms import apply_domain_error
from ucis.platform.i18n import error_text
from ucis.service import selectors, services, statsbook
from ucis.service.models import CHANNELS, COMMODITY_CHOICES, ORDER_TYPES, STATUSES, URGENCIES

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


# As the agent types the caller's question, knowledge-base answers appear beside the form.
SUGGEST = {"hx-get": reverse_lazy("service_suggest"), "hx-trigger": "keyup changed delay:400ms", "hx-target": "#suggestions",
           "hx-include": "[name=subject], [name=description], [name=account_id]"}


class _RenderOnce(forms.BoundField):
    """A field of an unbound form whose value is empty or one of its choices renders the same HTML
    every time (per language): render it once per process. The agent screen renders the intake form
    on every ringing call, and a select costs a template per option."""

    rendered: ClassVar[dict[tuple[Any, ...], str]] = {}

    def as_field_group(self) -> str:
        value = self.value()
        if self.form.is_bound or not (value in (None, "") or getattr(self.field, "choices", None)):
            return super().as_field_group()
        key = (type(self.form), self.name, self.auto_id, self.form.label_suffix, get_language(), value)
        try:
            html = self.rendered.get(key)
        except TypeError:  # an unhashable value
            return super().as_field_group()
        if html is None:
            html = self.rendered[key] = super().as_field_group()
        return html


class IntakeForm(forms.Form):
    bound_field_class = _RenderOnce

    order_type = forms.ChoiceField(label=_("type"), choices=ORDER_TYPES)
    channel = forms.ChoiceField(label=_("channel"), choices=CHANNELS, initial="hotline")
    urgency = forms.ChoiceField(label=_("urgency"), choices=URGENCIES, initial="normal")
    subject = forms.CharField(label=_("subject"), max_length=100, widget=forms.TextInput(attrs=SUGGEST))
    description = forms.CharField(label=_("description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 3, **SUGGEST}))
    caller_name = forms.CharField(label=_("caller"), max_length=60, required=False)
    caller_phone = forms.CharField(label=_("caller phone"), max_length=40, required=False)
    customer_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    account_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    premise_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    commodity = forms.ChoiceField(label=_("commodity"), choices=[("", "—"), *COMMODITY_CHOICES], required=False)
    location = forms.CharField(label=_("location"), max_length=200, required=False)
    landmark = forms.CharField(label=_("landmark"), max_length=100, required=False)
    requested_at = forms.DateTimeField(label=_("requested appointment"), required=False, widget=DATETIME_WIDGET)
    reply = forms.CharField(label=_("answer at once"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                            help_text=_("for a consultation or inquiry settled on the call: the order is archived"))


class ReplyForm(forms.Form):
    feedback = forms.CharField(label=_("handling result"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    reply = forms.CharField(label=_("reply to the customer"), widget=forms.Textarea(attrs={"rows": 2}), required=False)


class VisitForm(forms.Form):
    satisfaction = forms.ChoiceField(label=_("satisfaction (1–5)"), required=False,
                                     choices=[("", "—"), *[(str(i), str(i)) for i in range(5, 0, -1)]])
    note = forms.CharField(label=_("return visit note"), max_length=300, required=False)


class DispatchForm(forms.Form):
    node_id = forms.TypedChoiceField(label=_("queue"), coerce=int)
    skill = forms.CharField(label=_("skill"), max_length=32, required=False)
    note = forms.CharField(label=_("note"), max_length=1000, required=False)

    def __init__(self, *args: Any, units: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["node_id"].choices = [(u.pk, f"{u.code} {u.name}") for u in units]


class NoteForm(forms.Form):
    note = forms.CharField(label=_("note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), required=False)


def _problem(exc: DomainError) -> str:
    return error_text(exc)


# --- the console ------------------------------------------------------------------------------------


@login_required
@permission_required("service.view_workorder", raise_exception=True)
def console_page(request: HttpRequest) -> HttpResponse:
    """工单控制台: what waits for me, what others are working on; lock and unlock in batch."""
    checked = {int(i) for i in request.GET.getlist("order_ids") if i.isdigit()}
    context = selectors.console(actor=request.user)
    template = "service/_console_panel.html" if request.htmx else "service/console.html"
    return render(request, template, {**context, "checked": checked})


@login_required
@require_POST
def console_locks(request: HttpRequest) -> HttpResponse:
    ids = request.POST.getlist("order_ids")
    action = request.POST.get("action")
    try:
        if action == "unlock":
            released = services.order_unlock(actor=request.user, order_ids=ids)
            messages.success(request, gettext("Unlocked %(n)s orders.") % {"n": len(released)})
        else:
            outcome = services.order_lock(actor=request.user, order_ids=ids)
            if outcome.locked:
                messages.success(request, gettext("Locked %(n)s orders.") % {"n": len(outcome.locked)})
            for refusal in outcome.refused:
                messages.error(request, f"{refusal.order_no}: {gettext(refusal.template) % refusal.params}")
    except DomainError as exc:
        messages.error(request, _problem(exc))
    return redirect("service_console")


# --- the agent screen ---------------------------------------------------------------------------------


@login_required
@permission_required("service.intake_order", raise_exception=True)
def agent_page(request: HttpRequest) -> HttpResponse:
    """The screen the phone system pops up for a ringing call: ``/service/agent/?phone=…``."""
    screen = selectors.agent_screen(actor=request.user, phone=request.GET.get("phone", ""),
                                    customer_id=request.GET.get("customer") or None)
    prefill = {"channel": "hotline", "caller_phone": screen["phone"], **screen["prefill"]}
    return render(request, "service/agent.html", {**screen, "form": IntakeForm(initial=prefill)})


@login_required
@permission_required("service.intake_order", raise_exception=True)
def suggest_fragment(request: HttpRequest) -> HttpResponse:
    """Knowledge-base articles for the text typed into a new order (SVC-7)."""
    text = f"{request.GET.get('subject', '')} {request.GET.get('description', '')}"
    hits = selectors.text_suggestions(actor=request.user, text=text, company_id=request.user.node.company_id)
    return render(request, "service/_suggestions.html", {"suggestions": hits})


@login_required
@permission_required("service.intake_order", raise_exception=True)
def intake_page(request: HttpRequest) -> HttpResponse:
    form = IntakeForm(request.POST or None, initial={k: v for k, v in request.GET.items()})
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
        try:
            order = services.order_intake(actor=request.user, **data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, gettext("Order %(no)s registered.") % {"no": order.order_no})
            return redirect("service_order", order_id=order.pk)
    return render(request, "service/intake.html", {"form": form})


# --- an order ------------------------------------------------------------------------------------------


def _order_context(request: HttpRequest, order_id: int, *, forms_bound: dict[str, Any] | None = None) -> dict[str, Any]:
    order = selectors.order_get(actor=request.user, order_id=order_id, related=True)
    lock = selectors.order_lock_state(actor=request.user, order=order)
    draft = selectors.order_draft(actor=request.user, order=order)
    bound = forms_bound or {}
    units = selectors.dispatch_units(company_id=order.company_id)
    return {
        "order": order, "lock": lock, "draft": draft,
        "contact": selectors.order_contact(actor=request.user, order=order),
        "durations": selectors.order_durations(order=order),
        "events": selectors.order_events(order=order), "supervisions": selectors.order_supervisions(order=order),
        "attachments": list(order.attachments.all()),
        "reply_form": bound.get("reply") or ReplyForm(initial={"feedback": draft.get("feedback", order.feedback),
                                                               "reply": draft.get("reply", order.reply)}),
        "visit_form": bound.get("visit") or VisitForm(initial={"note": draft.get("note", "")}),
        "dispatch_form": bound.get("dispatch") or DispatchForm(units=units),
        "note_form": bound.get("note") or NoteForm(initial={"note": draft.get("note", "")}),
        "related": selectors.order_repeats(order=order),
        "suggestions": selectors.order_suggestions(actor=request.user, order=order),
    }


@login_required
@permission_required("service.view_workorder", raise_exception=True)
def order_page(request: HttpRequest, order_id: int) -> HttpResponse:
    return render(request, "service/order.html", _order_context(request, order_id))


ACTIONS = ("lock", "unlock", "accept", "dispatch", "forward", "reply", "visit", "archive", "review", "cancel", "note",
           "break", "attach")


@login_required
@require_POST
def order_action(request: HttpRequest, order_id: int) -> HttpResponse:
    """One action on an order; each calls one service, which checks the lock in the database."""
    selectors.order_get(actor=request.user, order_id=order_id)  # another branch's order: 404 before anything
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        messages.error(request, gettext("Unknown action."))
        return redirect("service_order", order_id=order_id)
    user = request.user
    bound: dict[str, Any] = {}
    try:
        if action == "lock":
            outcome = services.order_lock(actor=user, order_ids=[order_id])
            for refusal in outcome.refused:
                raise DomainError("order", refusal.template, **refusal.params)
        elif action == "unlock":
            services.order_unlock(actor=user, order_ids=[order_id])
        elif action == "accept":
            services.order_accept(actor=user, order_id=order_id)
        elif action in ("dispatch", "forward"):
            form = DispatchForm(request.POST, units=selectors.dispatch_units(
                company_id=selectors.order_get(actor=user, order_id=order_id).company_id))
            bound["dispatch"] = form
            if not form.is_valid():
                raise DomainError("node_id", gettext("choose a queue"))
            call = services.order_dispatch if action == "dispatch" else services.order_forward
            call(actor=user, order_id=order_id, **form.cleaned_data)
        elif action == "reply":
            form = ReplyForm(request.POST)
            bound["reply"] = form
            form.is_valid()
            services.order_reply(actor=user, order_id=order_id, feedback=form.cleaned_data.get("feedback", ""),
                                 reply=form.cleaned_data.get("reply", ""))
        elif action == "visit":
            form = VisitForm(request.POST)
            bound["visit"] = form
            form.is_valid()
            services.order_visit(actor=user, order_id=order_id, satisfaction=form.cleaned_data.get("satisfaction"),
                                 note=form.cleaned_data.get("note", ""))
        elif action == "archive":
            services.order_archive(actor=user, order_id=order_id, note=request.POST.get("note", ""))
        elif action == "review":
            services.order_review(actor=user, order_id=order_id, note=request.POST.get("note", ""))
        elif action == "cancel":
            services.order_cancel(actor=user, order_id=order_id, reason=request.POST.get("reason", ""))
        elif action == "note":
            services.order_note(actor=user, order_id=order_id, note=request.POST.get("note", ""))
        elif action == "break":
            services.order_lock_break(actor=user, order_id=order_id, reason=request.POST.get("reason", ""))
        elif action == "attach":
            upload = request.FILES.get("file")
            if upload is None:
                raise DomainError("file", gettext("choose a file"))
            services.order_attach(actor=user, order_id=order_id, name=upload.name, content=upload.read())
    except DomainError as exc:
        for form in bound.values():
            apply_domain_error(form, exc)
        messages.error(request, _problem(exc))
        if bound:
            return render(request, "service/order.html", _order_context(request, order_id, forms_bound=bound),
                          status=422)
    else:
        messages.success(request, gettext("Done."))
    return redirect("service_order", order_id=order_id)


@login_required
@require_POST
def order_heartbeat(request: HttpRequest, order_id: int) -> HttpResponse:
    """Sent by the order page every half minute while its holder works: keeps the lock and saves input."""
    draft = {k: v for k, v in request.POST.items() if k in ("feedback", "reply", "note")}
    beat = services.order_heartbeat(actor=request.user, order_id=order_id, draft=draft)
    return render(request, "service/_lock_state.html", {"lock": beat.state, "saved": beat.saved,
                                                        "order_id": order_id})


@login_required
@permission_required("service.view_workorder", raise_exception=True)
def order_list_page(request: HttpRequest) -> HttpResponse:
    filters = {k: request.GET.get(k, "") for k in ("status", "order_type", "channel", "q")}
    overdue = request.GET.get("overdue") == "1"
    orders = selectors.order_list(actor=request.user, **filters, open_only=request.GET.get("open") == "1",
                                  overdue_at=timezone.now() if overdue else None)
    return render(request, "service/orders.html", {"orders": orders, "filters": filters, "overdue": overdue,
                                                   "statuses": STATUSES, "types": ORDER_TYPES, "channels": CHANNELS})


@login_required
@require_POST
def supervision_ack(request: HttpRequest, supervision_id: int) -> HttpResponse:
    services.supervision_acknowledge(actor=request.user, supervision_id=supervision_id)
    return redirect("service_console")


# --- statistics and outages --------------------------------------------------------------------------


def _day(value: str, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


@login_required
@permission_required("service.view_service_stats", raise_exception=True)
def stats_page(request: HttpRequest) -> HttpResponse:
    """服务统计: volumes by type, channel, area and day; timeliness by department; satisfaction."""
    today = timezone.localdate()
    date_from = _day(request.GET.get("from", ""), today.replace(day=1))
    date_to = _day(request.GET.get("to", ""), today + timedelta(days=1))
    if date_to <= date_from:
        date_to = date_from + timedelta(days=1)
    stats = selectors.service_stats(actor=request.user, period=selectors.Period(date_from, date_to))
    if request.GET.get("format") == "xlsx":
        body = statsbook.workbook(stats, labels=statsbook.labels())
        response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="service-{date_from}-{date_to}.xlsx"'
        return response
    types, channels = dict(ORDER_TYPES), dict(CHANNELS)
    return render(request, "service/stats.html", {
        "stats": stats, "date_from": date_from, "date_to": date_to,
        "type_rows": [(types.get(k, k), n) for k, n in stats["by_type"]],
        "channel_rows": [(channels.get(k, k), n) for k, n in stats["by_channel"]]})


class OutageForm(forms.Form):
    node_id = forms.TypedChoiceField(label=_("Unit"), coerce=int)
    commodity = forms.ChoiceField(label=_("commodity"), choices=COMMODITY_CHOICES)
    kind = forms.ChoiceField(label=_("kind"), choices=[("planned", _("Planned")), ("unplanned", _("Unplanned (fault)"))])
    starts_at = forms.DateTimeField(label=_("starts"), widget=DATETIME_WIDGET)
    ends_at = forms.DateTimeField(label=_("expected end"), widget=DATETIME_WIDGET)
    reason = forms.CharField(label=_("reason"), max_length=200)
    area_codes = forms.CharField(label=_("address area codes"), help_text=_("one or more, separated by spaces or commas"))

    def __init__(self, *args: Any, units: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["node_id"].choices = [(u.pk, f"{u.code} {u.name}") for u in units]


@login_required
@permission_required("service.view_outage", raise_exception=True)
def outages_page(request: HttpRequest) -> HttpResponse:
    """停水/停电/停气: current and coming outages; managers announce new ones."""
    units = selectors.outage_units(actor=request.user)
    form = OutageForm(request.POST or None, units=units)
    if request.method == "POST":
        if not request.user.has_perm("service.manage_service"):
            raise PermissionDenied
        if form.is_valid():
            data = dict(form.cleaned_data)
            codes = [c for c in data.pop("area_codes").replace(",", " ").replace("，", " ").split() if c]
            try:
                services.outage_create(actor=request.user, area_codes=codes, **data)
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                messages.success(request, gettext("Outage announced."))
                return redirect("service_outages")
    return render(request, "service/outages.html", {
        "outages": selectors.outage_list(actor=request.user, current_at=timezone.now()), "form": form})

