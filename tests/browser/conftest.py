"""Browser tests: the real server (gunicorn) on one origin, bank pages on another, real Chromium."""
import json
import sqlite3
import threading
from http.server import ThreadingHTTPServer

import pytest

from support import DATA, BankPages, free_port, run_py, served, site_env


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
        yield {"host": host, "widget": widget_origin, "db": tmp / "site.db", "bank": bank}
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
