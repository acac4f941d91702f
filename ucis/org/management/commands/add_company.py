"""ucis add-company: add a subsidiary with its branches and stations (data, not code)."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from ucis.kernel.errors import DomainError
from ucis.org import services
from ucis.org.forms import parse_units
from ucis.platform.tenancy import SYSTEM


def _units(items):
    return [services.UnitSpec(code=i["code"], name=i["name"], kind=i.get("kind", "branch"),
                              name_en=i.get("name_en", ""), children=tuple(_units(i.get("children", []))))
            for i in items]


class Command(BaseCommand):
    help = ("Add a company with its branches/stations. Either flags, e.g.\n"
            "  ucis add-company --code LJR --name 临江热力 --commodity gas --unit 'LJR-01,城东分公司' "
            "--unit '  LJR-01-01,城东服务站,station'\n"
            "or --file company.json with {code, name, name_en, commodities, parent_code, units: "
            "[{code, name, kind, children: [...]}]}.")

    def add_arguments(self, parser):
        parser.add_argument("--file")
        parser.add_argument("--code")
        parser.add_argument("--name")
        parser.add_argument("--name-en", default="")
        parser.add_argument("--commodity", action="append", default=[])
        parser.add_argument("--parent", help="code of the parent (default: the group)")
        parser.add_argument("--unit", action="append", default=[],
                            help="'code,name[,kind]'; indent with two spaces to nest under the previous")

    def handle(self, *args, **opts):
        if opts["file"]:
            with open(opts["file"], encoding="utf-8") as fh:
                spec = json.load(fh)
            units = _units(spec.get("units", []))
            code, name, name_en = spec.get("code", ""), spec.get("name", ""), spec.get("name_en", "")
            commodities, parent_code = spec.get("commodities", []), spec.get("parent_code")
        else:
            if not opts["code"] or not opts["name"]:
                raise CommandError("give --code and --name (or --file)")
            from django import forms

            try:
                units = parse_units("\n".join(opts["unit"]))
            except forms.ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
            code, name, name_en = opts["code"], opts["name"], opts["name_en"]
            commodities, parent_code = opts["commodity"], opts["parent"]
        try:
            parent_id = None
            if parent_code:
                from ucis.org.selectors import org_node_by_code

                parent_id = org_node_by_code(actor=SYSTEM, code=parent_code).pk
            company = services.company_create(actor=SYSTEM, code=code, name=name, name_en=name_en,
                                              commodities=commodities, parent_id=parent_id, units=units)
        except DomainError as exc:
            raise CommandError("; ".join(f"{p.field}: {p.reason}" for p in exc.problems)) from exc
        except Http404 as exc:
            raise CommandError(f"parent: unknown node {parent_code}") from exc
        self.stdout.write(self.style.SUCCESS(f"company {company.code} {company.name} created (id {company.pk})"))
