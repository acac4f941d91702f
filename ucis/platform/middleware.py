"""Request middleware: the audit context (who, from where) of every change made in a request."""

from __future__ import annotations

from typing import Any

from pghistory.middleware import HistoryMiddleware


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is trusted just when a proxy is configured to set it.
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR") if request.META.get("UCIS_TRUST_PROXY") else None
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR")


class AuditContextMiddleware(HistoryMiddleware):
    """Every change made during a request is recorded with user, URL, method, client IP and agent."""

    def get_context(self, request) -> dict[str, Any]:
        context = super().get_context(request)
        context.update(
            method=request.method,
            ip=client_ip(request),
            user_agent=(request.META.get("HTTP_USER_AGENT") or "")[:200],
            source="web",
        )
        return context
