"""ucis print-notices: the payment notices (缴款单) of an issued bill run as one PDF per route, in
walking order, for printing and postal delivery."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from ucis.billing import notices
from ucis.kernel.errors import DomainError
from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import SYSTEM


class Command(BaseCommand):
    help = ("Write the payment notices of an issued bill run as PDFs, one per route (notices-<run>-<route>.pdf), "
            "each a page per bill in the route's walking order.")

    def add_arguments(self, parser):
        parser.add_argument("--run", type=int, required=True, help="the bill run's number")
        parser.add_argument("--route", action="append", default=[],
                            help="route code or id (repeat); default: every route of the run with bills")
        parser.add_argument("--out", required=True, help="directory to write the PDFs into (created if missing)")
        parser.add_argument("--as", dest="username", help="print as this staff member (default: system)")

    def _user(self, username):
        if not username:
            return SYSTEM
        found = org_selectors.staff_list(actor=SYSTEM, q=username).filter(username=username).first()
        if found is None:
            raise CommandError(f"no staff member {username}")
        return found

    def handle(self, *args, run, route, out, username, **options):
        actor = self._user(username)
        try:
            routes = notices.bill_notice_routes(actor=actor, run_id=run)
            if route:
                wanted = []
                for given in route:
                    match = [r for r in routes if r["code"] == given or str(r["route_id"]) == given]
                    if not match:
                        raise CommandError(f"run {run} has no bills on route {given}")
                    wanted += match
                routes = wanted
            if not routes:
                raise CommandError(f"run {run} has no bills to print")
            folder = Path(out)
            folder.mkdir(parents=True, exist_ok=True)
            for item in routes:
                pdf = notices.bill_notices_render(actor=actor, run_id=run, route_id=item["route_id"])
                path = folder / notices.bill_notices_filename(actor=actor, run_id=run, route_id=item["route_id"])
                path.write_bytes(pdf)
                self.stdout.write(f"route {item['code']}: {item['bills']} notices → {path} ({len(pdf) // 1024} KB)")
        except Http404 as exc:
            raise CommandError(f"no bill run {run} or route you can see") from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
