"""ucis accrue-late-fees [--on YYYY-MM-DD]: charge the day's late fees (违约金) on overdue bills for
every company and commodity with a late-fee rule. Safe to run twice: a day is charged once."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from ucis.ledger import accrual
from ucis.platform.tenancy import SYSTEM


class Command(BaseCommand):
    help = "Charge late fees on overdue bills up to a day (default today); idempotent per day."

    def add_arguments(self, parser):
        parser.add_argument("--on", type=date.fromisoformat, help="the day, YYYY-MM-DD (default today)")

    def handle(self, *args, **options):
        day = options["on"] or timezone.localdate()
        for (company_id, commodity), r in accrual.late_fees_accrue_all(actor=SYSTEM, on=day).items():
            self.stdout.write(f"company {company_id} {commodity}: {r.entries} account(s), {r.bills} bill(s), "
                              f"{r.amount} yuan; skipped {len(r.skipped)}")
            for account_id, reason in r.skipped[:20]:
                self.stdout.write(f"  account {account_id}: {reason}")
