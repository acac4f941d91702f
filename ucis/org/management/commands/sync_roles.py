from django.core.management.base import BaseCommand

from ucis.org import services


class Command(BaseCommand):
    help = "Create/refresh one auth group per staff role with exactly the role's permissions."

    def handle(self, *args, **options):
        missing = services.roles_sync()
        if missing:
            self.stderr.write("permissions not found: " + ", ".join(missing))
        self.stdout.write(self.style.SUCCESS("roles synced"))
