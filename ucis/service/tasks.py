"""Scheduled service-desk work: supervision of orders about to miss their SLA (督办). Celery beat
runs it every minute (``CELERY_BEAT_SCHEDULE``); ``ucis escalate-orders`` does the same from cron.
Each level is raised once per order, so overlapping runs are harmless."""

from __future__ import annotations

from celery import shared_task

from ucis.service import services


@shared_task(name="service.escalate_orders", acks_late=True)
def escalate_orders_task() -> int:
    return services.orders_escalate()
