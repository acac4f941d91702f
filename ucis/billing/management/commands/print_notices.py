"""ucis print-notices: printed notices as PDF for printing and postal delivery — the payment notices
(缴款单) of an issued bill run, one PDF per route in walking order; with ``--dunning`` the dunning
notices (催缴单) and with ``--home-collection`` the home-collection list (上门收费清单) of a
company's arrears on a day, one PDF per route named (or one for the company)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from ucis.billing import notices
from ucis.kernel.errors import DomainError
from ucis.metering import usage
from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import SYSTEM


class Command(BaseCommand):
    help = ("Write printed notices as PDF: the payment notices of an issued bill run, one PDF per route "
            "(notices-<run>-<route>.pdf) with a page per bill in walking order; or, with --dunning / "
            "--home-collection, the dunning notices / home-collection list of a company's arrears on --as-of.")

    def add_arguments(self, parser):
        parser.add_argument("--run", type=int, help="the issued bill run's number (payment notices)")
        parser.add_argument("--dunning", action="store_true", help="dunning notices (催缴单) of --company's arrears")
        parser.add_argument("--home-collection", action="store_true",
                            help="the home-collection list (上门收费清单) of --company's disabled customers")
        parser.add_argument("--company", help="company code, e.g. LJW (with --dunning / --home-collection)")
        parser.add_argument("--as-of", type=date.fromisoformat, help="arrears on this day, YYYY-MM-DD (default: today)")
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

    def handle(self, *args, run, dunning, home_collection, company, as_of, route, out, username, **options):
        actor = self._user(username)
        folder = Path(out)
        try:
            if dunning or home_collection:
                self._arrears(actor, folder, company, as_of, route, dunning=dunning, home=home_collection)
            elif run:
                self._run(actor, folder, run, route)
            else:
                raise CommandError("give --run N, or --dunning / --home-collection with --company")
        except Http404 as exc:
            raise CommandError("no such bill run, company or route that you can see") from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        except DomainError as exc:
            raise CommandError(str(exc)) from exc

    def _write(self, folder: Path, name: str, pdf: bytes, what: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(pdf)
        self.stdout.write(f"{what} → {path} ({len(pdf) // 1024} KB)")

    def _run(self, actor, folder, run, route):
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
        for item in routes:
            pdf = notices.bill_notices_render(actor=actor, run_id=run, route_id=item["route_id"])
            name = notices.bill_notices_filename(actor=actor, run_id=run, route_id=item["route_id"])
            self._write(folder, name, pdf, f"route {item['code']}: {item['bills']} notices")

    def _arrears(self, actor, folder, company, as_of, route, *, dunning, home):
        if not company:
            raise CommandError("give --company with --dunning / --home-collection")
        from django.utils import timezone

        node = org_selectors.org_node_by_code(actor=actor, code=company)
        day = as_of or timezone.localdate()
        found = usage.route_ids_by_code(company_id=node.pk, codes=route) if route else {}
        route_ids: list[int | None] = []
        for given in route:
            if given not in found and not given.isdigit():
                raise CommandError(f"unknown route {given}")
            route_ids.append(found.get(given) or int(given))
        codes = {v: k for k, v in found.items()}
        for route_id in route_ids or [None]:
            suffix = f"-{codes.get(route_id, route_id)}" if route_id is not None else ""
            if dunning:
                pdf = notices.dunning_notices_render(actor=actor, company_id=node.pk, as_of=day, route_id=route_id)
                self._write(folder, f"dunning-{node.code}-{day:%Y%m%d}{suffix}.pdf", pdf, f"dunning notices{suffix}")
            if home:
                pdf = notices.home_collection_list_render(actor=actor, company_id=node.pk, as_of=day,
                                                          route_id=route_id)
                self._write(folder, f"home-collection-{node.code}-{day:%Y%m%d}{suffix}.pdf", pdf,
                            f"home-collection list{suffix}")
