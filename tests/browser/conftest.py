"""Browser tests: the real server (gunicorn) on one origin, bank pages on another, real Chromium."""
import json
import os
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from backend.credentials import user_signature
from support import DATA, free_port, run_py, served, site_env

PAGES = Path(__file__).parent / "pages"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium (Playwright cannot download its own here), else Playwright's."""
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]
    options = {**browser_type_launch_args, "args": args}
    if os.path.exists(CHROMIUM):
        options["executable_path"] = CHROMIUM
    return options


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


class BankPages:
    """Serves pages/NAME.html with the widget's script tag built from the query string."""

    def __init__(self, widget_origin, clients):
        self.widget_origin, self.clients = widget_origin, clients

    def script_tags(self, query):
        client = self.clients[query.get("key", "main")]
        attributes = {"data-key": client["widget_key"], "data-offer": query.get("offer", "OF1")}
        for name in ("outlet", "lang", "theme", "target", "bank"):
            if name in query:
                attributes[f"data-{name}"] = query[name]
        if "uid" in query:
            attributes["data-user-id"] = query["uid"]
            sig = query.get("sig", "valid")
            if sig == "valid":
                attributes["data-user-sig"] = user_signature(client["widget_secret"], query["uid"])
            elif sig != "none":
                attributes["data-user-sig"] = sig
        rendered = " ".join(f'{k}="{v}"' for k, v in attributes.items())
        tag = f'<script src="{self.widget_origin}/widget.js" async {rendered}></script>'
        return tag * int(query.get("copies", 1))

    def handler(self):
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                path = PAGES / (url.path.strip("/") + ".html")
                if not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_text().replace("{{SCRIPTS}}", pages.script_tags(query)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                if url.path.strip("/") == "hostile":
                    # A strict policy that allows our origin and nothing else.
                    self.send_header("Content-Security-Policy", f"default-src 'none'; script-src {pages.widget_origin}; "
                                     f"frame-src {pages.widget_origin}; style-src 'unsafe-inline'")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler


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
