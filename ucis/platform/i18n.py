"""Show a ``DomainError`` in the user's language: translate the template, then fill it in."""

from __future__ import annotations

from django.utils.translation import gettext

from ucis.kernel.errors import DomainError, FieldProblem


def problem_text(problem: FieldProblem) -> str:
    template = gettext(problem.template)
    return template % dict(problem.params) if problem.params else template


def error_text(exc: DomainError) -> str:
    return "; ".join(problem_text(p) if p.field == "__all__" else f"{p.field}: {problem_text(p)}"
                     for p in exc.problems)
