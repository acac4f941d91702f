"""The README's first command, end to end: `ucis demo` on the embedded PostgreSQL (no
DATABASE_URL), a synthetic city, a server, and a working login with the printed credentials."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_demo_command_serves_a_city_with_a_working_login(tmp_path):
    port = _free_port()
    data_dir = Path("/tmp") / f"ucis-demo-smoke-{os.getpid()}"  # short: socket paths are limited to 107 bytes
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "UCIS_EMBEDDED_DATABASE_URL",
                                                             "DJANGO_SETTINGS_MODULE")}
    env["UCIS_DATA_DIR"] = str(data_dir)
    ucis = Path(sys.executable).with_name("ucis")
    command = [str(ucis)] if ucis.exists() else [sys.executable, "-m", "ucis.cli"]
    proc = subprocess.Popen([*command, "demo", "--port", str(port), "--customers", "200"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                if proc.poll() is not None:
                    break
                continue
            output.append(line)
            if "serving on" in line:
                break
        text = "".join(output)
        assert "serving on" in text, text
        login = re.search(r"login: (\S+) / (\S+)", text)
        assert login, text
        username, password = login.groups()

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}"
        for _ in range(50):
            try:
                page = opener.open(f"{base}/login/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"username": username, "password": password,
                                       "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(f"{base}/login/", data=body, headers={"Referer": f"{base}/login/"})
        home = opener.open(request, timeout=10)
        html = home.read().decode()
        assert home.geturl() == f"{base}/", html[:500]
        assert 'data-testid="current-user"' in html
        nodes = opener.open(f"{base}/api/v1/org/nodes?kind=company", timeout=10).read().decode()
        assert "LJW" in nodes and "LJE" in nodes and "LJG" in nodes
        assert opener.open(f"{base}/static/ucis/vendor/htmx.min.js", timeout=5).status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
