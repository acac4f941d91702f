"""ucis escalate-orders: raise the supervision notices (督办) of open work orders whose SLA has
reached an escalation step. Safe to run as often as you like."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ucis.service import services


class Command(BaseCommand):
    help = "Raise supervision notices for work orders about to miss (or missing) their SLA."

    def handle(self, *args, **options):
        raised = services.orders_escalate()
        self.stdout.write(f"{raised} supervision notice(s) raised")
