from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ucis.demo import generator


class Command(BaseCommand):
    help = "Generate the synthetic utility group (临江市): companies, branches, stations, staff."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=1000, help="city size (customers per company)")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--reset", action="store_true", help="wipe existing demo/business data first")
        parser.add_argument("--password", default=settings.UCIS_DEMO_PASSWORD)

    def handle(self, *args, customers, seed, reset, password, **options):
        if customers < 1:
            raise CommandError("--customers must be at least 1")
        if reset:
            generator.demo_reset()
        elif generator.demo_present():
            self.stdout.write("demo data already present (use --reset to regenerate)")
            return
        result = generator.demo_data_load(customers=customers, seed=seed, password=password)
        self.stdout.write(self.style.SUCCESS(
            " ".join(f"{k}={v}" for k, v in result.items() if k != "sample_logins")))
        for role, username, node in result["sample_logins"]:
            self.stdout.write(f"  {role:<17} {username:<32} ({node})")
        self.stdout.write(f"  password for every demo account: {password}")
