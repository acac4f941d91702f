"""Staff screens of meter reading (抄表): routes, reading cycles, fast hand entry of a route sheet,
the review queue with batch decisions, and re-read orders. Every change asks for a reason, which
the audit trail keeps with it."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ucis.kernel.errors import DomainError
from ucis.metering import selectors, services
from ucis.metering.models import CYCLE_MONTHS, REVIEW_REASONS
from ucis.platform.forms import apply_domain_error
from ucis.platform.i18n import error_text

REVIEW_PAGE_SIZE = 50
COMMODITY_CHOICES = [("water", _("Water")), ("gas", _("Gas")), ("electricity", _("Electricity"))]
REVIEW_ACTION_CHOICES = [("accept", _("Accept")), ("reread", _("Request a re-read")), ("estimate", _("Estimate"))]


def _require(request: HttpRequest, *perms: str) -> None:
    """At least one of ``perms`` (a change needs more than seeing the page)."""
    if not any(request.user.has_perm(p) for p in perms):
        raise PermissionDenied


def _report(request: HttpRequest, error: DomainError | None) -> None:
    if error is not None:
        messages.error(request, error_text(error))


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if str(v).strip().isdigit()]


def _id_list(text: str) -> list[int]:
    """``"12, 13 14"`` → ``[12, 13, 14]``; anything that is not a number is an error."""
    parts = [p for p in re.split(r"[\s,，;；]+", text or "") if p]
    bad = [p for p in parts if not p.isdigit()]
    if bad:
        raise DomainError("service_point_ids", _("%(value)s is not a service point number"), value=bad[0])
    return [int(p) for p in parts]


# --- routes ---------------------------------------------------------------------------------------


class RouteForm(forms.Form):
    code = forms.CharField(label=_("code"), max_length=32)
    name = forms.CharField(label=_("name"), max_length=100)
    node_id = forms.TypedChoiceField(label=_("organisation node"), coerce=int)
    commodity = forms.ChoiceField(label=_("commodity"), choices=COMMODITY_CHOICES)
    reader_id = forms.TypedChoiceField(label=_("reader"), coerce=int, required=False, empty_value=None)
    cycle_months = forms.TypedChoiceField(label=_("reading cycle"), choices=CYCLE_MONTHS, coerce=int, initial=1)
    cycle_parity = forms.TypedChoiceField(label=_("cycle month parity"), coerce=int, initial=1,
                                          choices=[(1, _("Odd months")), (0, _("Even months"))],
                                          help_text=_("Only for routes read every two months."))
    read_day = forms.IntegerField(label=_("reading day of month"), min_value=1, max_value=28, initial=10)
    reason = forms.CharField(label=_("Reason"), max_length=200, help_text=_("Kept in the audit trail."))

    def __init__(self, *args: Any, units: Any = (), readers: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["node_id"].choices = [(u.pk, f"{u.code} {u.name}") for u in units]
        self.fields["reader_id"].choices = [("", "—")] + [(r.pk, str(r)) for r in readers]


@login_required
@permission_required("metering.view_route", raise_exception=True)
def route_list_page(request):
    """Routes with filters; managers reassign a batch of them to another reader."""
    if request.method == "POST":
        _require(request, "metering.manage_routes")
        try:
            count = services.route_reassign(actor=request.user, route_ids=_ids(request.POST.getlist("route_ids")),
                                            reader_id=request.POST.get("reader_id") or None,
                                            reason=request.POST.get("reason", ""))
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, gettext("%(count)s route(s) reassigned.") % {"count": count})
        return redirect(request.get_full_path())
    filters = {k: request.GET.get(k, "") for k in ("commodity", "reader_id", "node_id", "q")}
    show = request.GET.get("active", "1")
    page = selectors.routes_page(actor=request.user, filters=filters, active=show)
    _report(request, page["error"])
    return render(request, "metering/routes.html", {**page, "filters": filters, "active": show,
                                                    "commodity_choices": COMMODITY_CHOICES})


@login_required
@permission_required("metering.manage_routes", raise_exception=True)
def route_create_page(request):
    choices = selectors.route_filter_choices(actor=request.user)
    form = RouteForm(request.POST or None, units=choices["units"], readers=choices["readers"],
                     initial={"node_id": request.user.node_id, "reason": gettext("new route")})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        reason = data.pop("reason")
        try:
            route = services.route_create(actor=request.user, data=services.RouteInput(**data), reason=reason)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, gettext("Route %(code)s created.") % {"code": route.code})
            return redirect("metering_route_detail", route_id=route.pk)
    return render(request, "metering/route_form.html", {"form": form})


def _move(order: list[int], move: str) -> list[int]:
    """``up:<sp>`` / ``down:<sp>`` → the order with that stop moved one place."""
    direction, _sep, sp = move.partition(":")
    if not sp.isdigit() or int(sp) not in order:
        raise DomainError("service_point_ids", _("pick a stop of the route to move"))
    i = order.index(int(sp))
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
    return order


def _positions(post: Any, order: list[int]) -> list[int]:
    """The stops sorted by the positions typed in ``pos-<sp>`` (ties keep the current order)."""
    def key(item: tuple[int, int]) -> tuple[float, int]:
        n, sp = item
        raw = (post.get(f"pos-{sp}") or "").strip()
        try:
            return (float(raw), n)
        except ValueError:
            raise DomainError(f"pos-{sp}", _("%(value)s is not a position"), value=raw) from None
    return [sp for _n, sp in sorted(enumerate(order), key=key)]


def _route_action(request: HttpRequest, page: dict[str, Any]) -> Any:
    """One change to a route from its page; returns the route to show afterwards."""
    route = page["route"]
    post, action, reason = request.POST, request.POST.get("action", ""), request.POST.get("reason", "")
    actor = request.user
    if action == "assign":
        if (post.get("area_code") or "").strip():
            count = services.route_stops_assign_area(actor=actor, route_id=route.pk, area_code=post["area_code"],
                                                     reason=reason)
        else:
            ids = _id_list(post.get("service_point_ids", ""))
            if not ids:
                raise DomainError("service_point_ids", _("give service point numbers or a community/building code"))
            count = services.route_stops_assign(actor=actor, route_id=route.pk, service_point_ids=ids, reason=reason)
        messages.success(request, gettext("%(count)s service point(s) put on the route.") % {"count": count})
    elif action == "reorder":
        order = [s["service_point_id"] for s in page["stops"]]
        order = _move(order, post["move"]) if post.get("move") else _positions(post, order)
        services.route_reorder(actor=actor, route_id=route.pk, service_point_ids=order, reason=reason)
        messages.success(request, gettext("Walking order saved."))
    elif action == "reader":
        services.route_reassign(actor=actor, route_ids=[route.pk], reader_id=post.get("reader_id") or None,
                                reason=reason)
        messages.success(request, gettext("Reader changed."))
    elif action == "split":
        new = services.route_split(actor=actor, route_id=route.pk, from_service_point_id=post.get("from_service_point_id")
                                   or 0, code=post.get("code", ""), name=post.get("name", ""), reason=reason)
        messages.success(request, gettext("Route split: the stops from there on are now route %(code)s.")
                         % {"code": new.code})
        return new
    elif action == "merge":
        target = services.route_merge(actor=actor, target_id=post.get("target_id") or 0, source_id=route.pk,
                                      reason=reason)
        messages.success(request, gettext("Route %(source)s merged into %(target)s.")
                         % {"source": route.code, "target": target.code})
        return target
    else:
        raise DomainError("action", _("unknown action %(action)s"), action=action)
    return route


@login_required
@permission_required("metering.view_route", raise_exception=True)
def route_detail_page(request, route_id):
    page = selectors.route_page(actor=request.user, route_id=route_id, on=timezone.localdate())
    if request.method == "POST":
        _require(request, "metering.manage_routes")
        try:
            shown = _route_action(request, page)
        except DomainError as exc:
            messages.error(request, error_text(exc))
            shown = page["route"]
        return redirect("metering_route_detail", route_id=shown.pk)
    return render(request, "metering/route_detail.html", page)


# --- cycles ---------------------------------------------------------------------------------------


@login_required
@permission_required("metering.view_readcycle", raise_exception=True)
def cycle_list_page(request):
    """Cycles with progress; opening a month's cycles and closing cycles (batch)."""
    if request.method == "POST":
        _require(request, "metering.manage_routes", "metering.review_reads")
        today = timezone.localdate()
        try:
            if request.POST.get("action") == "open":
                opened = services.read_cycle_open(actor=request.user, company_id=request.POST.get("node_id") or 0,
                                                  period=request.POST.get("period", ""))
                messages.success(request, gettext("%(count)s cycle(s) open for %(period)s.")
                                 % {"count": len(opened), "period": request.POST.get("period", "")})
            else:
                ids = _ids(request.POST.getlist("cycle_ids"))
                if not ids:
                    raise DomainError("cycle_ids", _("pick at least one cycle"))
                counts = services.read_cycle_close(actor=request.user, cycle_ids=ids, today=today)
                messages.success(request, gettext(
                    "%(count)s cycle(s) closed: %(no_read)s without a read and %(new_business)s with changed "
                    "business went to the review queue.") % {"count": len(ids), **counts})
        except DomainError as exc:
            messages.error(request, error_text(exc))
        return redirect(request.get_full_path())
    filters = {k: request.GET.get(k, "") for k in ("period", "route_id", "status", "reader_id")}
    if request.GET.get("mine"):
        filters["reader_id"] = str(request.user.pk)
    page = selectors.cycles_page(actor=request.user, filters=filters)
    _report(request, page["error"])
    return render(request, "metering/cycles.html", {**page, "filters": filters,
                                                    "this_month": timezone.localdate().strftime("%Y-%m")})


def _sheet_entries(post: Any, service_point_ids: list[int]) -> list[services.HandEntry]:
    from datetime import date

    entries = []
    for sp in service_point_ids:
        reading = (post.get(f"reading-{sp}") or "").strip()
        if not reading:
            continue
        raw_date = (post.get(f"date-{sp}") or "").strip()
        try:
            on = date.fromisoformat(raw_date) if raw_date else None
        except ValueError:
            raise DomainError(f"date-{sp}", _("%(value)s is not a date (YYYY-MM-DD)"), value=raw_date) from None
        entries.append(services.HandEntry(service_point_id=sp, reading=reading, read_date=on,
                                          note=(post.get(f"note-{sp}") or "").strip()[:200]))
    return entries


@login_required
@permission_required("metering.view_readcycle", raise_exception=True)
def cycle_entry_page(request, cycle_id):
    """The route sheet of a cycle for hand entry; the whole sheet may be submitted at once."""
    outcomes: dict[str, Any] = {}
    if request.method == "POST":
        _require(request, "metering.read_meters")
        sps = _ids(request.POST.getlist("sp"))
        try:
            entries = _sheet_entries(request.POST, sps)
            result = services.cycle_reads_enter(actor=request.user, cycle_id=cycle_id, entries=entries,
                                                today=timezone.localdate())
        except DomainError as exc:  # a bad date: nothing saved; the sheet below shows what is
            messages.error(request, error_text(exc))
        else:
            outcomes = {o.row: o for o in result.outcomes}
            messages.success(request, gettext(
                "%(stored)s read(s) saved, %(pending)s waiting for review, %(duplicates)s already saved, "
                "%(rejected)s refused.") % {"stored": result.stored, "pending": result.pending,
                                            "duplicates": result.duplicates, "rejected": len(result.rejected)})
    sheet = selectors.cycle_sheet(actor=request.user, cycle_id=cycle_id)
    for row in sheet["rows"]:
        row["outcome"] = outcomes.get(str(row["service_point_id"]))
    return render(request, "metering/entry.html", {**sheet, "today": timezone.localdate()})


@require_POST
@login_required
@permission_required("metering.read_meters", raise_exception=True)
def cycle_entry_row(request, cycle_id):
    """One row of the sheet saved by htmx as the reader leaves it: the outcome cell comes back."""
    sp = int(request.POST["service_point_id"]) if request.POST.get("service_point_id", "").isdigit() else 0
    outcome = None
    try:
        result = services.cycle_reads_enter(actor=request.user, cycle_id=cycle_id,
                                            entries=_sheet_entries(request.POST, [sp]), today=timezone.localdate())
    except DomainError as exc:
        error = error_text(exc)
    else:
        error = ""
        outcome = result.outcomes[0] if result.outcomes else None
    rows = selectors.cycle_sheet(actor=request.user, cycle_id=cycle_id, service_point_ids=[sp])["rows"]
    row = rows[0] if rows else {"service_point_id": sp, "read": None, "findings": [], "flags": []}
    return render(request, "metering/_entry_outcome.html", {"row": {**row, "outcome": outcome}, "error": error})


# --- the review queue -----------------------------------------------------------------------------


class CorrectForm(forms.Form):
    reading = forms.CharField(label=_("Correct reading"), max_length=20)
    reason = forms.CharField(label=_("Reason"), max_length=200, help_text=_("Kept in the audit trail."))


@login_required
@permission_required("metering.view_readreview", raise_exception=True)
def review_queue_page(request):
    """Open entries of the review queue (or the decided ones) with filters and batch decisions."""
    if request.method == "POST":
        _require(request, "metering.review_reads")
        from datetime import date

        due = (request.POST.get("due_date") or "").strip()
        try:
            decided = services.read_review_decide(
                actor=request.user, review_ids=_ids(request.POST.getlist("review_ids")),
                action=request.POST.get("action", ""), note=request.POST.get("note", ""),
                today=timezone.localdate(), due_date=date.fromisoformat(due) if due else None)
        except ValueError:
            messages.error(request, gettext("%(value)s is not a date (YYYY-MM-DD)") % {"value": due})
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, gettext("%(count)s entr(ies) decided.") % {"count": decided["decided"]})
        return redirect(request.get_full_path())
    filters = selectors.ReviewFilters.from_query(request.GET)
    page = selectors.review_page(actor=request.user, filters=filters, page=request.GET.get("page"),
                                 per_page=REVIEW_PAGE_SIZE)
    _report(request, page["error"])
    return render(request, "metering/review.html", {
        **page, "filters": filters, "reasons": REVIEW_REASONS, "flag_codes": selectors.FLAG_CODES,
        "actions": REVIEW_ACTION_CHOICES, "today": timezone.localdate()})


@login_required
@permission_required("metering.review_reads", raise_exception=True)
def review_correct_page(request, review_id):
    row = selectors.review_get(actor=request.user, review_id=review_id)
    form = CorrectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.read_review_decide(actor=request.user, review_ids=[row["review"].pk], action="correct",
                                        note=form.cleaned_data["reason"], reading=form.cleaned_data["reading"],
                                        today=timezone.localdate())
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, gettext("Reading corrected."))
            return redirect("metering_review")
    return render(request, "metering/review_correct.html", {"row": row, "form": form})


@login_required
@permission_required("metering.view_rereadorder", raise_exception=True)
def reread_list_page(request):
    """Re-read orders: the reader's own open ones; ``?all=1`` every open one of the area."""
    mine = not request.GET.get("all")
    return render(request, "metering/rereads.html", {
        "orders": selectors.reread_orders(actor=request.user, mine=mine), "mine": mine})
