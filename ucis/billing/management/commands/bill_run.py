"""ucis bill-run: start (or resume) a company's bill run for a period, calculate it with a progress
bar, and optionally approve and issue it as other staff members."""

from __future__ import annotations

import sys

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from ucis.billing import services
from ucis.kernel.errors import DomainError
from ucis.metering import usage
from ucis.org import selectors as org_selectors
from ucis.platform.progress import ProgressBar
from ucis.platform.tenancy import SYSTEM


class Command(BaseCommand):
    help = ("Bill a company's routes for a period: select the accounts, calculate their bills, and with "
            "--approve-as/--issue approve and issue the run. A run that was interrupted is finished with "
            "--resume RUN_ID: nothing is billed twice and nothing is skipped.")

    def add_arguments(self, parser):
        parser.add_argument("--company", help="company code, e.g. LJW")
        parser.add_argument("--commodity", default="water", choices=["water", "gas", "electricity"])
        parser.add_argument("--period", help="the month billed, YYYY-MM")
        parser.add_argument("--route", action="append", default=[], help="route code (repeat); default: all")
        parser.add_argument("--resume", type=int, help="calculate the pending accounts of this run")
        parser.add_argument("--as", dest="username", help="run as this staff member (default: system)")
        parser.add_argument("--approve-as", help="approve the calculated run as this staff member")
        parser.add_argument("--issue", action="store_true", help="issue the run after approval")
        parser.add_argument("--chunk", type=int, default=50_000, help="accounts per transaction")

    def _user(self, username):
        if not username:
            return SYSTEM
        found = org_selectors.staff_list(actor=SYSTEM, q=username).filter(username=username).first()
        if found is None:
            raise CommandError(f"no staff member {username}")
        return found

    def handle(self, *args, company, commodity, period, route, resume, username, approve_as, issue, chunk,
               **options):
        actor = self._user(username)
        out = self.stdout
        try:
            if resume:
                run_id = resume
            else:
                if not company or not period:
                    raise CommandError("give --company and --period (or --resume RUN_ID)")
                node = org_selectors.org_node_by_code(actor=actor, code=company)
                route_ids = []
                if route:
                    found = usage.route_ids_by_code(company_id=node.pk, codes=route)
                    missing = [c for c in route if c not in found]
                    if missing:
                        raise CommandError(f"unknown routes: {', '.join(missing)}")
                    route_ids = [found[c] for c in route]
                run = services.bill_run_start(actor=actor, company_id=node.pk, commodity=commodity, period=period,
                                              route_ids=route_ids)
                run_id = run.pk
                out.write(f"bill run {run_id}: {run.items_total} accounts")
            bar = ProgressBar(sys.stderr, unit="accounts")
            done = services.bill_run_calculate(actor=actor, run_id=run_id, chunk=chunk,
                                               progress=lambda d, t: bar("calculating", d, t))
            bar.close()
            review = services.bill_run_review(actor=actor, run_id=run_id)
            run = review["run"]
            out.write(f"run {run.pk} {run.status}: {done['billed']} billed, {done['exception']} exceptions; "
                      f"total {run.totals.get('total', '0')} yuan")
            for item in review["exceptions"][:20]:
                out.write(f"  exception: account {item['account_id']}: {item['reason']}")
            if review["outliers"]:
                out.write(f"  {len(review['outliers'])} bills differ from the last one by more than 2×")
            if approve_as:
                services.bill_run_approve(actor=self._user(approve_as), run_id=run_id)
                out.write(f"run {run_id} approved by {approve_as}")
                if issue:
                    services.bill_run_issue(actor=self._user(approve_as), run_id=run_id)
                    out.write(f"run {run_id} issued")
        except DomainError as err:
            for p in err.problems:
                self.stderr.write(f"{p.field}: {p.reason}")
            sys.exit(1)
        except PermissionDenied as err:
            raise CommandError(str(err)) from None
