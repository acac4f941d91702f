from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ucis.org import roles, tree
from ucis.org.models import COMMODITY_CHOICES, KIND_CHOICES
from ucis.org.services import UnitSpec

ROLE_CHOICES = [(code, _(label)) for code, label in roles.ROLES]


class NodeFilterForm(forms.Form):
    q = forms.CharField(label=_("Code or name"), required=False)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", "—"), *KIND_CHOICES])


class NodeEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    name_en = forms.CharField(label=_("English name"), max_length=100, required=False)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False)


class NodeCreateForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=32)
    name = forms.CharField(label=_("Name"), max_length=100)
    name_en = forms.CharField(label=_("English name"), max_length=100, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=[c for c in KIND_CHOICES if c[0] != tree.GROUP])
    commodities = forms.MultipleChoiceField(label=_("Commodities"), choices=COMMODITY_CHOICES, required=False,
                                            widget=forms.CheckboxSelectMultiple)


class NodeMoveForm(forms.Form):
    new_parent = forms.ChoiceField(label=_("New parent"))
    reason = forms.CharField(label=_("Reason"), max_length=200)

    def __init__(self, *args, parents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_parent"].choices = [(n.pk, f"{'　' * n.depth}{n.code} {n.name}") for n in parents]


class CompanyForm(forms.Form):
    code = forms.CharField(label=_("Company code"), max_length=32)
    name = forms.CharField(label=_("Company name"), max_length=100)
    name_en = forms.CharField(label=_("English name"), max_length=100, required=False)
    commodities = forms.MultipleChoiceField(label=_("Commodities"), choices=COMMODITY_CHOICES,
                                            widget=forms.CheckboxSelectMultiple)
    units = forms.CharField(
        label=_("Branches and stations"), required=False, widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("One per line: code, name, kind (branch, station, office, department). "
                    "Indent a line with two spaces to place it under the line above."))

    def clean_units(self) -> list[UnitSpec]:
        return parse_units(self.cleaned_data.get("units") or "")


def parse_units(text: str) -> list[UnitSpec]:
    """Indented lines ``code, name[, kind]`` → nested unit specs; errors name the line."""
    roots: list[dict] = []
    stack: list[tuple[int, dict]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        parts = [p.strip() for p in raw.replace("，", ",").split(",")]
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise forms.ValidationError(_("line %(n)s: expected 'code, name[, kind]'"), params={"n": number})
        kind = parts[2] if len(parts) > 2 and parts[2] else tree.BRANCH
        if kind not in tree.KINDS:
            raise forms.ValidationError(_("line %(n)s: unknown kind %(kind)s"), params={"n": number, "kind": kind})
        item = {"code": parts[0], "name": parts[1], "kind": kind, "children": []}
        while stack and stack[-1][0] >= indent:
            stack.pop()
        (stack[-1][1]["children"] if stack else roots).append(item)
        stack.append((indent, item))

    def build(item: dict) -> UnitSpec:
        return UnitSpec(code=item["code"], name=item["name"], kind=item["kind"],
                        children=tuple(build(c) for c in item["children"]))

    return [build(r) for r in roots]


class StaffFilterForm(forms.Form):
    q = forms.CharField(label=_("Name, username or employee number"), required=False)
    role = forms.ChoiceField(label=_("Role"), required=False, choices=[("", "—"), *ROLE_CHOICES])
    active = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", "—"), ("1", _("active")), ("0", _("inactive"))])


class StaffForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    display_name = forms.CharField(label=_("Full name"), max_length=60, required=False)
    employee_no = forms.CharField(label=_("Employee number"), max_length=32, required=False)
    node = forms.ChoiceField(label=_("Organisation node"))
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=ROLE_CHOICES, required=False,
                                      widget=forms.CheckboxSelectMultiple)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    password = forms.CharField(label=_("Initial password"), widget=forms.PasswordInput, required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, nodes=(), editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["node"].choices = [(n.pk, f"{'　' * n.depth}{n.code} {n.name}") for n in nodes]
        if editing:
            del self.fields["password"]
            self.fields["username"].disabled = True
        else:
            self.fields["password"].required = True
            del self.fields["is_active"]
