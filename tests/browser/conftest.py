"""Browser tests: the real server (gunicorn) on one origin, bank pages on another, real Chromium."""
import json
import re
import sqlite3
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer

import pytest

from support import DATA, ROOT, BankPages, free_port, run_py, served, site_env


@pytest.fixture(scope="session")
def widget_site(tmp_path_factory):
    """Our server with the test catalogue, two widget clients, and a bank page server on another origin."""
    tmp = tmp_path_factory.mktemp("widget-site")
    env = site_env(tmp)
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    host_port = free_port()
    host = f"http://localhost:{host_port}"
    bank = json.loads(run_py(env, "create-client", "--name", "First Bank web", "--bank", "BANK1", "--origin", host, "--json"))
    stranger = json.loads(run_py(env, "create-client", "--name", "Other site", "--bank", "BANK1",
                                 "--origin", "https://elsewhere.example", "--json"))
    with served(env, tmp / "server.log") as widget_origin:
        pages = BankPages(widget_origin, {"main": bank, "other": stranger})
        server = ThreadingHTTPServer(("127.0.0.1", host_port), pages.handler())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield {"host": host, "widget": widget_origin, "db": tmp / "site.db", "bank": bank, "env": env}
        server.shutdown()


@pytest.fixture
def reports(widget_site):
    """Read the reports stored so far (and clear them before each test)."""
    with sqlite3.connect(widget_site["db"]) as conn:
        conn.execute("DELETE FROM feedback")

    def read():
        with sqlite3.connect(widget_site["db"]) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute("SELECT * FROM feedback ORDER BY id")]

    return read


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    """The demo `make run` shows, served by gunicorn: its base URL and the admins' logins by scope."""
    tmp = tmp_path_factory.mktemp("admin-site")
    env = site_env(tmp)
    seeded = subprocess.run([sys.executable, "run.py", "seed-demo"], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=True).stdout
    logins = dict(re.findall(r"admin (\S+)\s+(\S+ / \S+)", seeded))
    with served(env, tmp / "server.log") as base:
        yield {"base": base, "logins": {scope: login.split(" / ") for scope, login in logins.items()}}
