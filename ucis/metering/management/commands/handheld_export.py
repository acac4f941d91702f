"""ucis handheld-export ROUTE_CODE --period YYYY-MM [--format csv|json] FILE: a route's reading
sheet for the handheld device (format: docs/handheld-format.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ucis.kernel.errors import DomainError
from ucis.metering import handheld
from ucis.metering.management.commands.handheld_import import actor_named


class Command(BaseCommand):
    help = ("Write a route's reading cycle for the handheld device: one row per stop in walking order, readings "
            "empty. CSV (UTF-8 with BOM) or JSON; format: docs/handheld-format.md.")

    def add_arguments(self, parser):
        parser.add_argument("route_code")
        parser.add_argument("file")
        parser.add_argument("--period", required=True, help="billing month, YYYY-MM")
        parser.add_argument("--format", dest="file_format", choices=["csv", "json"],
                            help="default: from the file name, else csv")
        parser.add_argument("--as", dest="username", help="export as this staff member; default: system")

    def handle(self, *args, route_code, file, period, file_format, username, **options):
        path = Path(file)
        file_format = file_format or ("json" if path.suffix.lower() == ".json" else "csv")
        try:
            rows = handheld.cycle_sheet_rows(actor=actor_named(username), route_code=route_code, period=period)
            content = handheld.sheet_encode(rows, route_code=route_code, period=period, file_format=file_format)
        except DomainError as exc:
            raise CommandError("; ".join(p.reason for p in exc.problems)) from exc
        path.write_bytes(content)
        self.stdout.write(self.style.SUCCESS(f"{path}: {file_format} route={route_code} period={period} "
                                             f"stops={len(rows)}"))
