from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from ucis.kernel.errors import DomainError
from ucis.org import selectors, services
from ucis.platform.tenancy import SYSTEM


class Command(BaseCommand):
    help = "Create a staff member at a node: ucis create-staff NAME --node CODE --role manager --password …"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--node", required=True, help="code of the organisation node")
        parser.add_argument("--role", action="append", default=[])
        parser.add_argument("--password", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument("--admin", action="store_true", help="may also use the Django admin")

    def handle(self, *args, username, node, role, password, name, admin, **opts):
        try:
            node_obj = selectors.org_node_by_code(actor=SYSTEM, code=node)
            user = services.staff_create(actor=SYSTEM, username=username, password=password, node_id=node_obj.pk,
                                         roles=role, display_name=name, is_staff=admin, is_superuser=admin)
        except Http404 as exc:
            raise CommandError(f"node: unknown node {node}") from exc
        except DomainError as exc:
            raise CommandError("; ".join(f"{p.field}: {p.reason}" for p in exc.problems)) from exc
        self.stdout.write(self.style.SUCCESS(f"staff {user.username} created at {node_obj}"))
