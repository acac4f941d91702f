"""Helpers that carry a service's ``DomainError`` into a Django form, field by field."""

from __future__ import annotations

from django import forms

from ucis.kernel.errors import DomainError
from ucis.platform.i18n import problem_text


def apply_domain_error(form: forms.BaseForm, exc: DomainError) -> None:
    for problem in exc.problems:
        # A form may name its fields like the problems do ("extra.<code>"); else the first part.
        name = problem.field if problem.field in form.fields else problem.field.split("[")[0].split(".")[0]
        text = problem_text(problem)
        if name in form.fields:
            form.add_error(name, text)
        else:
            form.add_error(None, f"{problem.field}: {text}" if problem.field != "__all__" else text)
