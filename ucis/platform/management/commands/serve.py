import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the application with waitress (a production WSGI server; static files via WhiteNoise)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8)

    def handle(self, *args, host, port, threads, **options):
        from django.core.management import call_command
        from django.core.wsgi import get_wsgi_application
        from waitress import serve

        call_command("collectstatic", interactive=False, verbosity=0)

        self.stdout.write(f"serving on http://{host}:{port}/ (Ctrl-C to stop)")
        sys.stdout.flush()
        serve(get_wsgi_application(), host=host, port=port, threads=threads, ident="ucis")
