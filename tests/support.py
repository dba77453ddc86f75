"""Helpers shared by the test suites: free ports, run.py, a served app, nginx in front of it, bank
pages for the widget, a PostgreSQL cluster."""
import getpass
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from email import message_from_bytes, policy
import urllib.parse
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

DATA = Path(__file__).parent / "data"
PAGES = Path(__file__).parent / "browser" / "pages"
ROOT = Path(__file__).parent.parent
PASSWORD = "correct horse battery"  # the admins fixture's
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, process, seconds=30):
    """Poll url until it answers; False if the process died or time ran out first."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except OSError:
            time.sleep(0.1)
    return False


def site_env(folder):
    """Environment for run.py with a SQLite database (and data folder) in folder."""
    return {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'site.db'}", "OFFERS_FEEDBACK_DATA": str(folder)}


def run_py(env, *args):
    """Run `python run.py ARGS` as an operator would; returns its standard output."""
    result = subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextmanager
def served(env, log_path, workers=2, options=()):
    """`run.py serve [OPTIONS]` (gunicorn) on a free port until the block ends; yields its base
    URL. Without its job runner, unless env sets JOBS=1 (tests/test_alerts.py)."""
    port = free_port()
    env = {"JOBS": "0", **env}
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "run.py", "serve", "--port", str(port), "--workers", str(workers),
                                    *options], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    assert wait_until_up(base + "/healthz", process), log_path.read_text()
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def served_demo(folder):
    """What `make run` serves, in folder: the demo seeded (`run.py seed-demo`), then `run.py
    serve --demo`, with its bank pages on a second origin. Yields the base URL, the `export`
    line seed-demo printed (and its variables), the bank pages' origin and the database file."""
    env = site_env(folder)
    export = re.search(r"^\s*(export .+)$", run_py(env, "seed-demo"), re.M).group(1)
    log_path = folder / "server.log"
    with served(env, log_path, options=["--demo"]) as base:
        # Printed (and flushed) before gunicorn starts, so there once the server answers.
        pages = re.search(r"Demo bank page with the widget \(a second origin\): (\S+)/", log_path.read_text()).group(1)
        variables = dict(pair.split("=", 1) for pair in export.removeprefix("export ").split())
        yield {"base": base, "export": export, "variables": variables, "pages": pages, "db": folder / "site.db",
               "env": env}


def nginx():
    """Debian's nginx binary (/usr/sbin is not on every user's PATH); skips the test without it."""
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(path, os.X_OK):
        pytest.skip("nginx is not installed: run `make setup` (installs Debian's nginx package)")
    return path


@contextmanager
def nginx_in_front(app_base, folder):
    """nginx with deploy/'s configuration (plain HTTP) on a free port in front of app_base
    until the block ends, everything it writes in folder; yields its base URL."""
    binary = nginx()
    port = free_port()
    # As root (CI), nginx's workers run as the user named here; it ignores the line otherwise.
    config = subprocess.run([sys.executable, "deploy/render_nginx.py", "--app", urlsplit(app_base).netloc,
                             "--listen", f"127.0.0.1:{port}", "--state-dir", str(folder), "--user", getpass.getuser()],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    (folder / "nginx.conf").write_text(config)
    error_log = folder / "logs" / "error.log"
    process = subprocess.Popen([binary, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(error_log),
                                "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, error_log.read_text()
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


class BankPages:
    """A bank's site for browser tests: serves browser/pages/NAME.html with the widget's script
    tag built from the query string (key: which of clients; offer, outlet, lang, theme,
    target, bank; uid and sig for a signed customer; copies)."""

    def __init__(self, widget_origin, clients):
        self.widget_origin, self.clients = widget_origin, clients

    def script_tags(self, query):
        from backend.credentials import user_signature

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


def make_report(*, when, user="asha@example.com", bank="BANK1", offer="OF1", outlet="O1", type_id=1, position="at",
                accuracy=10, **extra):
    """Record a report through the domain function, as an entrance would; position: "at"
    (the outlet's door), "away" (5 km off), None (not shared), or (latitude, longitude)."""
    from backend.config import customer_key
    from backend.feedback import Rules, record_feedback
    from backend.models import Bank, FeedbackType, Offer, Outlet

    found_outlet = Outlet.get(Outlet.code == outlet) if outlet else None
    lat, lon = (found_outlet.latitude, found_outlet.longitude) if found_outlet and found_outlet.latitude else (19.0, 72.8)
    if position == "at":
        position = (lat + 0.0001, lon)  # 11 m off the outlet's point, as a phone at the till would be
    elif position == "away":
        position = (lat + 0.05, lon)
    latitude, longitude = position or (None, None)
    RAW_IDS[stored_id(user, bank)] = user
    return record_feedback(bank=Bank.get(Bank.code == bank), offer=Offer.get(Offer.code == offer), outlet=found_outlet,
                           feedback_type=FeedbackType.get_by_id(type_id), user_id=user, now=when,
                           rules=Rules(150, timedelta(hours=24), customer_key()), latitude=latitude, longitude=longitude,
                           accuracy_m=accuracy if position else None, **extra)


def counter_rows():
    """Every row of the leaderboard's counters' tables, in order (CustomersByLastDay's with
    customers: counting leaves a day a customer moved on from at zero, a recount leaves none)."""
    from backend.models import CustomerDay, CustomersByLastDay, MerchantCustomer, MerchantDay, SourceDay

    return ([sorted(model.select().tuples()) for model in (MerchantDay, CustomerDay, SourceDay, MerchantCustomer)]
            + [sorted(CustomersByLastDay.select().where(CustomersByLastDay.customers != 0).tuples())])


def as_made_before_migrations():
    """Forget the migrations applied: the database looks like one the last release (or an
    older one) made, whose tables the next create_tables brings up to date."""
    from backend.db import database

    database.execute_sql('DROP TABLE "schema_migration"')


def _pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found: run `make setup` (installs Debian's postgresql).")
    return found[-1]


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temp dir on a free local port (stop() removes it).

    The tests' clusters skip fsync (nothing in them must survive a crash); durable=True keeps
    PostgreSQL's defaults, as a bank would run it, for benchmarks. settings: more `-c` options.
    """

    def __init__(self, durable=False, settings=()):
        self.durable, self.settings = durable, list(settings)
        self.root = Path(tempfile.mkdtemp(prefix="offers-feedback-pg-"))
        self.datadir = self.root / "data"
        # PostgreSQL refuses to run as root; CI is root, so run it as the postgres user there.
        self.as_owner = []
        if os.geteuid() == 0:
            self.as_owner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
            self.root.chmod(0o700)
        self.port = free_port()
        subprocess.run(self.as_owner + [_pg_bin("initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres",
                                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        self.pg_ctl("start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, action, *args):
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        options += "".join(f" -c {setting}" for setting in self.settings)
        subprocess.run(self.as_owner + [_pg_bin("pg_ctl"), "-D", str(self.datadir), "-o", options,
                                        "-l", str(self.root / "log"), "-w", action, *args], check=True, capture_output=True)

    def stop(self):
        self.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def slow_clients_meanwhile(base, ask, pause=2):
    """Phones on slow networks: four send their headers a line every pause seconds (10 s in
    all), one asks 3 s after connecting; ask() is called five times meanwhile. Returns (the
    five slow clients' status lines, whether every ask() returned while all four of the
    trickling clients were still sending)."""
    address = urllib.parse.urlsplit(base)
    trickled, answers = [], []

    def slow_client(lines, wait, done):
        with socket.create_connection((address.hostname, address.port), timeout=60) as connection:
            for line in lines:
                time.sleep(wait)
                connection.sendall(line)
            done.append(True)
            answer = b""
            while chunk := connection.recv(4096):
                answer += chunk
        answers.append(answer.split(b"\r\n", 1)[0])

    trickle = [b"GET /healthz HTTP/1.1\r\n", b"Host: test\r\n", b"X-Slow: 1\r\n", b"Connection: close\r\n", b"\r\n"]
    late = [b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"]
    threads = [threading.Thread(target=slow_client, args=(trickle, pause, trickled)) for _ in range(4)]
    threads.append(threading.Thread(target=slow_client, args=(late, 3, [])))
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # every slow client has connected and started
    for _ in range(5):
        ask()
    meanwhile = not trickled
    for thread in threads:
        thread.join()
    return answers, meanwhile


def log_with(path, text, seconds=30):
    """The log's text once it holds text: a worker writes its access-log line after the
    answer is sent, so a test reading at once may be early (a loaded machine)."""
    deadline = time.monotonic() + seconds
    while text not in (log := path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return log


def new_database(server_url, name):
    """A new, empty database called name on the PostgreSQL server at server_url; its URL."""
    import psycopg2

    conn = psycopg2.connect(server_url)
    try:
        conn.autocommit = True  # CREATE DATABASE runs outside transactions
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
            cursor.execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


def report_params(credentials, **overrides):
    """The published example report at outlet O1 of tests/data/catalog.json, for a client's
    credentials; an override of None leaves the parameter out."""
    params = {"action": "user_feedback", "clientkey": credentials["clientkey"], "clientpass": credentials["clientpass"],
              "apikey": credentials["apikey"], "user_id": "asha@example.com", "user_latitude": "19.0597",
              "user_longitude": "72.8295", "feedback_type": "1", "comment": "Refused at the till",
              "offer_code": "OF1", "your_bank_code": "BANK1", "outlet_code": "O1"}
    return {key: value for key, value in {**params, **overrides}.items() if value is not None}


def send_two_clicks(frame):
    """A customer's two taps in the widget's frame (a problem, then Send report) with their
    location shared, up to the thank-you with its reference."""
    from playwright.sync_api import expect

    frame.get_by_role("button", name="Merchant declined the offer").click()
    expect(frame.get_by_role("heading", name="Send this report?")).to_be_visible()
    expect(frame.get_by_text("Your location is included")).to_be_visible()
    frame.get_by_role("button", name="Send report").click()
    expect(frame.get_by_role("heading", name="Thank you")).to_be_visible()
    expect(frame.get_by_text(re.compile(r"Reference: [0-9A-F]{4}-[0-9A-F]{4}"))).to_be_visible()


class WebhookReceiver:
    """A bank's webhook endpoint on a free local port: records each POST (headers, body) and
    answers each event (webhook-id) with the statuses of `answers` in turn, then 200."""

    def __init__(self, answers=(), port=None):
        from http.server import ThreadingHTTPServer

        self.received, answered = [], {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                left = answered.setdefault(self.headers.get("webhook-id"), list(answers))
                self.send_response(left.pop(0) if left else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count, seconds):
        """The requests received once there are count of them (or seconds have passed)."""
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return list(self.received)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def csrf_token(client, url="/admin/login"):
    """The CSRF token of a form on an admin page (Flask's test client)."""
    return CSRF_FIELD.search(client.get(url).get_data(as_text=True)).group(1)


def log_in(client, email, password=PASSWORD, next_url=None):
    url = "/admin/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password, "csrf_token": csrf_token(client)})


class Inbox:
    """aiosmtpd's handler: keeps every message (refuses those to the addresses in refuse)."""

    def __init__(self):
        self.messages, self.refuse = [], set()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if set(envelope.rcpt_tos) & self.refuse:
            return "550 No such user"
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(frame):
    """axe-core's violations in a frame (evaluated by the browser's devtools, past the frame's CSP)."""
    frame.evaluate(AXE.read_text())
    return frame.evaluate("""async () => (await axe.run(document)).violations
        .map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`)""")


def browser_log_in(page, demo_site, scope):
    """Log in to the demo in Chromium as the admin seed-demo made for scope (platform, bank:CODE)."""
    from playwright.sync_api import expect

    email, password = demo_site["logins"][scope]
    page.goto(demo_site["base"] + "/admin/leaderboard")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/leaderboard"))


RAW_IDS = {}  # pseudonym -> the id make_report was given


def raw_of(stored):
    """The id a stored pseudonym was made from, by make_report (tests read stored rows by it)."""
    return RAW_IDS.get(stored, stored)


def stored_id(user_id, bank="BANK1"):
    """What a bank's customer id is stored as (its pseudonym, backend/privacy.py)."""
    from backend.config import customer_key
    from backend.models import Bank
    from backend.privacy import pseudonym

    return pseudonym(customer_key(), Bank.get(Bank.code == bank).id, user_id)


def site_stored_id(env, user_id, bank_id=1):
    """stored_id for a server run.py started with env (its own data folder's key): BANK1 is
    bank 1 in a database the test catalogue was imported into first."""
    from backend.privacy import pseudonym

    key = env.get("CUSTOMER_KEY") or (Path(env["OFFERS_FEEDBACK_DATA"]) / "customer_key").read_text().strip()
    return pseudonym(key, bank_id, user_id)
