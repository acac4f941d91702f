"""The ``ucis`` command: Django's manage.py plus the project's own commands.

``ucis demo`` installs and runs the demo, ``ucis serve`` the server, ``ucis demo-data`` the
synthetic city, ``ucis add-company`` a new subsidiary; every Django command works too
(``ucis migrate``, ``ucis createsuperuser``). Dashes and underscores are interchangeable.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    if args and not args[0].startswith("-"):
        args[0] = args[0].replace("-", "_")
    if not (args and args[0] in {"help", "version", "makemessages", "compilemessages"}):
        from ucis.platform.embedded_db import ensure_database_url

        ensure_database_url()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["ucis", *args])


if __name__ == "__main__":
    main()
