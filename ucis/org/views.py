"""Staff UI of the organisation tree and staff. Each view makes one selector or service call;
visibility comes from the selectors (another branch's id is a 404)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ucis.kernel.errors import DomainError
from ucis.org import forms, selectors, services
from ucis.platform.exports import csv_response
from ucis.platform.forms import apply_domain_error
from ucis.platform.i18n import error_text


@login_required
def node_list(request):
    form = forms.NodeFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    nodes = selectors.org_node_list(actor=request.user, q=data.get("q") or None, kind=data.get("kind") or None)
    page = Paginator(nodes, 200).get_page(request.GET.get("page"))
    return render(request, "org/node_list.html", {"form": form, "page": page})


@login_required
@permission_required("org.export_org", raise_exception=True)
def node_export(request):
    nodes = selectors.org_node_list(actor=request.user)
    return csv_response("org-nodes.csv", ["code", "name", "name_en", "kind", "parent_code", "company_code",
                                          "commodities", "active"],
                        ((n.code, n.name, n.name_en, n.kind, n.parent.code if n.parent else "",
                          n.company.code if n.company else "", " ".join(n.commodities), int(n.is_active))
                         for n in nodes.iterator(chunk_size=2000)))


@login_required
def node_detail(request, node_id):
    node = selectors.org_node_get(actor=request.user, node_id=node_id)
    return render(request, "org/node_detail.html", {
        "node": node,
        "ancestors": [a for a in selectors.org_node_ancestors(node=node)
                      if a.path.startswith(request.user.node.path)],
        "children": selectors.org_node_children(actor=request.user, node=node),
        "staff": selectors.staff_list(actor=request.user, node_id=node.pk)[:100],
    })


@login_required
def node_history(request, node_id):
    entries = selectors.org_node_history(actor=request.user, node_id=node_id)
    return render(request, "platform/_history.html", {"entries": entries})


@login_required
@permission_required("org.change_orgnode", raise_exception=True)
def node_edit(request, node_id):
    node = selectors.org_node_get(actor=request.user, node_id=node_id)
    form = forms.NodeEditForm(request.POST or None, initial={
        "name": node.name, "name_en": node.name_en, "address": node.address, "phone": node.phone,
        "is_active": node.is_active})
    if request.method == "POST" and form.is_valid():
        try:
            services.org_node_update(actor=request.user, node_id=node.pk, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("org_node_detail", node_id=node.pk)
    return render(request, "org/node_form.html", {"form": form, "node": node, "title": _("Edit node")})


@login_required
@permission_required("org.add_orgnode", raise_exception=True)
def node_add_child(request, node_id):
    parent = selectors.org_node_get(actor=request.user, node_id=node_id)
    form = forms.NodeCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            node = services.org_node_create(actor=request.user, parent_id=parent.pk, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Created %(node)s.") % {"node": node})
            return redirect("org_node_detail", node_id=node.pk)
    return render(request, "org/node_form.html", {"form": form, "node": parent,
                                                  "title": _("Add a unit under %(node)s") % {"node": parent}})


@login_required
@permission_required("org.move_orgnode", raise_exception=True)
def node_move(request, node_id):
    node = selectors.org_node_get(actor=request.user, node_id=node_id)
    parents = [n for n in selectors.org_node_list(actor=request.user, company_id=node.company_id)
               if not n.path.startswith(node.path)] if node.company_id else []
    form = forms.NodeMoveForm(request.POST or None, parents=parents,
                              initial={"new_parent": node.parent_id})
    if request.method == "POST" and form.is_valid():
        try:
            services.org_node_move(actor=request.user, node_id=node.pk,
                                   new_parent_id=form.cleaned_data["new_parent"],
                                   reason=form.cleaned_data["reason"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Moved."))
            return redirect("org_node_detail", node_id=node.pk)
    return render(request, "org/node_form.html", {"form": form, "node": node, "title": _("Move node")})


@login_required
@permission_required("org.add_company", raise_exception=True)
def company_new(request):
    form = forms.CompanyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            company = services.company_create(actor=request.user, code=data["code"], name=data["name"],
                                              name_en=data["name_en"], commodities=data["commodities"],
                                              units=data["units"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Company %(node)s created.") % {"node": company})
            return redirect("org_node_detail", node_id=company.pk)
    return render(request, "org/company_form.html", {"form": form})


def _staff_filters(request) -> tuple[forms.StaffFilterForm, dict]:
    form = forms.StaffFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    active = {"1": True, "0": False}.get(data.get("active") or "")
    return form, {"q": data.get("q") or None, "role": data.get("role") or None, "active": active,
                  "node_id": request.GET.get("node") or None}


@login_required
@permission_required("org.view_user", raise_exception=True)
def staff_list(request):
    form, filters = _staff_filters(request)
    staff = selectors.staff_list(actor=request.user, **filters)
    page = Paginator(staff, 100).get_page(request.GET.get("page"))
    return render(request, "org/staff_list.html", {"form": form, "page": page})


@login_required
@permission_required("org.export_org", raise_exception=True)
def staff_export(request):
    _form, filters = _staff_filters(request)
    staff = selectors.staff_list(actor=request.user, **filters)
    return csv_response("staff.csv", ["username", "name", "employee_no", "node_code", "roles", "active"],
                        ((u.username, u.display_name, u.employee_no, u.node.code,
                          " ".join(sorted(g.name for g in u.groups.all())), int(u.is_active))
                         for u in staff.iterator(chunk_size=2000)))


@login_required
@permission_required("org.change_user", raise_exception=True)
@require_POST
def staff_bulk_active(request):
    try:
        count = services.staff_set_active_bulk(actor=request.user, staff_ids=request.POST.getlist("staff"),
                                               is_active=request.POST.get("is_active") == "1",
                                               reason=request.POST.get("reason", ""))
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("%(count)s staff updated.") % {"count": count})
    return redirect("org_staff_list")


@login_required
@permission_required("org.view_user", raise_exception=True)
def staff_detail(request, staff_id):
    staff = selectors.staff_get(actor=request.user, staff_id=staff_id)
    return render(request, "org/staff_detail.html", {"staff": staff})


@login_required
@permission_required("org.view_user", raise_exception=True)
def staff_history(request, staff_id):
    return render(request, "platform/_history.html",
                  {"entries": selectors.staff_history(actor=request.user, staff_id=staff_id)})


@login_required
@permission_required("org.add_user", raise_exception=True)
def staff_new(request):
    nodes = selectors.org_node_list(actor=request.user)
    form = forms.StaffForm(request.POST or None, nodes=nodes, initial={"node": request.GET.get("node")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            staff = services.staff_create(actor=request.user, username=data["username"], password=data["password"],
                                          node_id=data["node"], roles=data["roles"],
                                          display_name=data["display_name"], email=data["email"],
                                          phone=data["phone"], employee_no=data["employee_no"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Staff member %(name)s created.") % {"name": staff})
            return redirect("org_staff_detail", staff_id=staff.pk)
    return render(request, "org/staff_form.html", {"form": form, "title": _("New staff member")})


@login_required
@permission_required("org.change_user", raise_exception=True)
def staff_edit(request, staff_id):
    staff = selectors.staff_get(actor=request.user, staff_id=staff_id)
    nodes = selectors.org_node_list(actor=request.user)
    form = forms.StaffForm(request.POST or None, nodes=nodes, editing=True, initial={
        "username": staff.username, "display_name": staff.display_name, "employee_no": staff.employee_no,
        "node": staff.node_id, "roles": staff.role_codes, "email": staff.email, "phone": staff.phone,
        "is_active": staff.is_active})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.staff_update(actor=request.user, staff_id=staff.pk, node_id=data["node"], roles=data["roles"],
                                  display_name=data["display_name"], employee_no=data["employee_no"],
                                  email=data["email"], phone=data["phone"], is_active=data["is_active"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("org_staff_detail", staff_id=staff.pk)
    return render(request, "org/staff_form.html", {"form": form, "staff": staff, "title": _("Edit staff member")})
