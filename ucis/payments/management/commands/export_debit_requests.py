"""ucis export-debit-requests --company LJW --bank ICBC [--on DATE] [--batch NO] FILE: the direct-debit
request file (代扣请求, GBK, docs/bank-files.md) of every account that pays by direct debit and owes money."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ucis.org import selectors as org_selectors
from ucis.payments import bankapply
from ucis.platform.tenancy import SYSTEM


class Command(BaseCommand):
    help = "Write the direct-debit request file for a bank: one line per account that owes money."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--company", required=True, help="company code, e.g. LJW")
        parser.add_argument("--bank", required=True, help="the bank's code, e.g. ICBC")
        parser.add_argument("--on", type=date.fromisoformat, help="the day to debit (default today)")
        parser.add_argument("--batch", help="batch number (default: the day)")

    def handle(self, *args, **options):
        company = org_selectors.org_node_list(actor=SYSTEM, kind="company").filter(code=options["company"]).first()
        if company is None:
            raise CommandError(f"no company {options['company']}")
        day = options["on"] or timezone.localdate()
        data, lines = bankapply.debit_request_export(actor=SYSTEM, company_id=company.pk, bank_code=options["bank"],
                                                     on=day, batch_no=options["batch"] or f"{day:%Y%m%d}01")
        Path(options["file"]).write_bytes(data)
        self.stdout.write(f"{lines} debit request(s) written to {options['file']}")
