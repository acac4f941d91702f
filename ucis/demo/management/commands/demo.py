from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from ucis.demo import generator


class Command(BaseCommand):
    help = ("The zero-setup demo: migrate, generate the synthetic city (once), then serve and print "
            "the URL and a login.")

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--reset", action="store_true")
        parser.add_argument("--no-serve", action="store_true", help="prepare everything, do not serve")

    def handle(self, *args, customers, seed, host, port, reset, no_serve, **options):
        self.stdout.write("[1/3] database schema …")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("[2/3] synthetic city …")
        call_command("demo_data", customers=customers, seed=seed, reset=reset, stdout=self.stdout)
        url = f"http://{host}:{port}/"
        self.stdout.write("[3/3] server\n")
        self.stdout.write(self.style.SUCCESS(
            f"ucis demo ready at {url}\n"
            f"  login: admin / {settings.UCIS_DEMO_PASSWORD}   (group administrator)\n"
            f"  a branch counter clerk: water.01.counter-clerk1 / {settings.UCIS_DEMO_PASSWORD}\n"
            f"  API docs: {url}api/v1/docs"))
        self.stdout.flush()
        if not no_serve:
            call_command("serve", host=host, port=port)
        elif generator.demo_present():
            self.stdout.write("not serving (--no-serve)")
