"""Scheduled ledger work: the nightly late-fee accrual (run it from Celery beat or cron with
``ucis accrue-late-fees``; both are idempotent per day)."""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.utils import timezone

from ucis.ledger import accrual
from ucis.platform.tenancy import SYSTEM


@shared_task(name="ledger.accrue_late_fees", acks_late=True)
def accrue_late_fees_task(on: str | None = None) -> dict[str, str]:
    day = date.fromisoformat(on) if on else timezone.localdate()
    results = accrual.late_fees_accrue_all(actor=SYSTEM, on=day)
    return {f"{c}:{k}": str(r.amount) for (c, k), r in results.items()}
