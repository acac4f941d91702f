"""Staff screens of the customer registry: search (live, htmx) and the customer page."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from ucis.customers import selectors
from ucis.kernel.errors import DomainError
from ucis.platform import audit
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
