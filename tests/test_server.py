"""The real thing: run.py serve (gunicorn, 2 workers) on a free port, called over HTTP."""
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend.rollups import COUNT_SECONDS
from backend.server import IN_SQLITE
from support import (DATA, ROOT, free_port, log_with, report_params, run_py, served, site_env, site_stored_id, slow_clients_meanwhile,
                     wait_until_up)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A served app with the test catalogue and one BANK1 client; yields what tests need."""
    tmp = tmp_path_factory.mktemp("server")
    env = site_env(tmp)
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    credentials = json.loads(run_py(env, "create-client", "--name", "First Bank app", "--bank", "BANK1", "--json"))
    log_path = tmp / "server.log"
    with served(env, log_path) as base:
        yield {"base": base, "env": env, "credentials": credentials, "log": log_path, "db": tmp / "site.db"}


def http(server, params=None, method="GET", body=None, headers=None, query=None):
    """Send a request; returns (status, parsed JSON, headers)."""
    query = query if query is not None else urllib.parse.urlencode(params or {})
    request = urllib.request.Request(f"{server['base']}/api?{query}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"] == "application/json"
        return error.code, json.loads(error.read()), error.headers


def report(server, **overrides):
    return report_params(server["credentials"], **overrides)


def stored_rows(server, where="1=1", args=()):
    with sqlite3.connect(server["db"]) as conn:
        return conn.execute(f"SELECT public_id, user_id, verdict FROM feedback WHERE {where}", args).fetchall()


def test_published_url_records_a_report(server):
    status, body, _ = http(server, report(server))
    assert (status, body["status"], body["location"]["verdict"]) == (200, "success", "at_outlet")
    assert stored_rows(server, "public_id = ?", (body["feedback_id"],)) == [
        (body["feedback_id"], site_stored_id(server["env"], "asha@example.com"), "at_outlet")]


def test_post_form_and_json(server):
    form = urllib.parse.urlencode(report(server, user_id="form@example.com")).encode()
    assert http(server, method="POST", body=form, query="")[0] == 200
    as_json = json.dumps(report(server, user_id="json@example.com")).encode()
    assert http(server, method="POST", body=as_json, query="", headers={"Content-Type": "application/json"})[0] == 200
    assert len(stored_rows(server, "user_id IN (?, ?)", [site_stored_id(server["env"], user) for user in
                                                        ("form@example.com", "json@example.com")])) == 2


@pytest.mark.parametrize(
    "overrides, status, code",
    [
        ({"user_id": None, "outlet_code": None}, 400, "missing_value"),
        ({"user_latitude": "NaN"}, 400, "invalid_value"),
        ({"user_latitude": "\uff11\uff19.05", "user_longitude": "72.8"}, 400, "invalid_value"),  # full-width digits
        ({"user_accuracy": "1_5"}, 400, "invalid_value"),
        ({"action": "drop"}, 400, "unknown_action"),
        ({"apikey": "stolen"}, 401, "invalid_credentials"),
        ({"your_bank_code": "BANK2", "offer_code": "OF2"}, 403, "not_allowed"),
        ({"outlet_code": "O3"}, 422, "unknown_code"),
        ({"comment": "z" * 20_000}, 414, "payload_too_large"),  # gunicorn refuses the line
    ],
)
def test_errors_over_http(server, overrides, status, code):
    before = len(stored_rows(server))
    got_status, body, _ = http(server, report(server, **{"user_id": "errors@example.com", **overrides}))
    assert (got_status, body["status"], body["error"]) == (status, "error", code)
    assert set(body) == {"status", "error", "message", "fields"}
    assert len(stored_rows(server)) == before


def test_protocol_errors_over_http(server):
    status, body, headers = http(server, method="PUT", query="action=user_feedback")
    assert (status, body["error"]) == (405, "method_not_allowed") and "POST" in headers["Allow"]
    status, body, _ = http(server, method="POST", body=b"x" * 100_000, query="action=user_feedback",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, body["error"]) == (413, "payload_too_large")
    status, body, _ = http(server, query=urllib.parse.urlencode(report(server)) + "&comment=caf%E9")
    assert (status, body["error"], body["fields"]) == (400, "invalid_value", ["comment"])
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(server["base"] + "/api/nothing-here", timeout=5)
    assert json.loads(raised.value.read())["error"] == "not_found"


def test_a_fork_waits_while_the_checkpoint_thread_is_inside_sqlite():
    forked = threading.Event()

    def fork():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        forked.set()

    with IN_SQLITE:  # as the checkpoint thread holds it around each call into SQLite
        forker = threading.Thread(target=fork)
        forker.start()
        assert not forked.wait(0.3)
    forker.join(10)
    assert forked.is_set()


def test_a_client_keeping_its_connection_open_holds_no_worker(server):
    """gunicorn waits up to 2 s for a client to hang up after its answer; with the request
    read whole, the worker goes on to the next one at once."""
    address = urllib.parse.urlsplit(server["base"])
    lingering = []
    try:
        for _ in range(2):  # one per worker
            connection = socket.create_connection((address.hostname, address.port), timeout=5)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            answer = b""
            while chunk := connection.recv(4096):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b'{"status":"ok"}\n')
            lingering.append(connection)  # never closed by this client
        with urllib.request.urlopen(server["base"] + "/healthz", timeout=1) as response:
            assert response.status == 200
    finally:
        for connection in lingering:
            connection.close()


def test_concurrent_identical_reports_count_once(server):
    params = report(server, user_id="racer@example.com", feedback_type="3")
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: http(server, params), range(32)))
    assert {status for status, _, _ in answers} == {200}
    assert len({body["feedback_id"] for _, body, _ in answers}) == 1
    assert sum(not body["duplicate"] for _, body, _ in answers) == 1
    assert len(stored_rows(server, "user_id = ?", [site_stored_id(server["env"], "racer@example.com")])) == 1


def counters_and_reports(server):
    """(reports counted, reports pending, reports stored), read in one snapshot."""
    with sqlite3.connect(server["db"]) as conn:
        return conn.execute(
            "SELECT (SELECT COALESCE(SUM(reports), 0) FROM merchantday WHERE scope = 'all' AND feedback_type = 0 "
            "AND city = ''), (SELECT COUNT(*) FROM feedback WHERE uncounted), (SELECT COUNT(*) FROM feedback)"
        ).fetchone()


def test_workers_count_reports_into_the_leaderboard_after_answering(server):
    counted_before, _, _ = counters_and_reports(server)

    def send(numbers):
        with ThreadPoolExecutor(max_workers=8) as pool:
            return [status for status, _, _ in pool.map(
                lambda n: http(server, report(server, user_id=f"many{n}@example.com")), numbers)]

    # Each worker counts at most once every COUNT_SECONDS: two rounds further apart than that.
    statuses = send(range(40))
    time.sleep(COUNT_SECONDS + 0.2)
    statuses += send(range(40, 56))
    assert set(statuses) == {200}
    deadline = time.monotonic() + 10
    while True:
        counted, pending, stored = counters_and_reports(server)
        assert counted + pending == stored  # a count commits its counters and its marks together
        if counted > counted_before or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert counted > counted_before


def test_revoked_key_stops_on_every_worker_once_the_cache_has_expired(server):
    """A worker trusts its cached credentials for CREDENTIAL_CACHE_SECONDS (5): after that,
    every worker and thread refuses a revoked key (the cache runs on a monotonic clock, so
    a loaded machine makes no difference)."""
    clientkey = server["credentials"]["clientkey"]
    added = json.loads(run_py(server["env"], "add-apikey", "--clientkey", clientkey))
    for n in range(24):  # warm the credential cache of every worker and thread
        assert http(server, report(server, apikey=added["apikey"], user_id=f"warm{n}@example.com"))[0] == 200
    run_py(server["env"], "revoke-apikey", "--clientkey", clientkey, "--apikey-id", added["apikey_id"])
    time.sleep(5.5)
    statuses = [http(server, report(server, apikey=added["apikey"], user_id=f"late{n}@example.com"))[0]
                for n in range(24)]
    assert statuses == [401] * 24


def test_access_log_has_no_secrets(server):
    params = report(server, user_id="logged@example.com")
    referer = f"https://bank.example/page?{urllib.parse.urlencode(params)}"
    http(server, params, headers={"Referer": referer, "User-Agent": "bank-client/1.0"})
    log = log_with(server["log"], "bank-client/1.0")
    line = next(line for line in log.splitlines() if "bank-client/1.0" in line)
    # gunicorn's default (combined) format: address, time, request line, status, bytes, referer, agent.
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^]]+\] "GET /api\?action=user_feedback&\S+ HTTP/1\.1" 200 \d+ '
                        r'"https://bank\.example/page\?\S+" "bank-client/1\.0"', line), line
    for name in ("clientpass", "apikey", "user_id", "user_latitude", "comment"):
        assert line.count(f"{name}=[REDACTED]") == 2, name
    assert line.count(f"clientkey={params['clientkey']}") == 2 and line.count("outlet_code=O1") == 2
    for value in (server["credentials"]["clientpass"], server["credentials"]["apikey"], "logged"):
        assert value not in log


def test_secret_names_spelt_with_percent_escapes_are_redacted(server):
    """The app decodes parameter names ("%63lientpass" is clientpass): the log must too."""
    params = report(server, user_id="escaped@example.com")
    query = urllib.parse.urlencode(params).replace("clientpass=", "%63lient%70ass=").replace("apikey=", "%61pikey=")
    assert http(server, query=query)[0] == 200
    log = log_with(server["log"], "%63lient%70ass=")
    line = next(line for line in log.splitlines() if "%63lient%70ass=" in line)
    assert "%63lient%70ass=[REDACTED]" in line and "%61pikey=[REDACTED]" in line, line
    assert server["credentials"]["clientpass"] not in log
    assert server["credentials"]["apikey"] not in log


def test_server_error_is_json_without_internals(server):
    """Runs last in this module: it breaks the database on purpose."""
    with sqlite3.connect(server["db"]) as conn:
        conn.execute("DROP TABLE feedback")
    status, body, _ = http(server, report(server, user_id="doomed@example.com"))
    assert (status, body) == (500, {"status": "error", "error": "server_error",
                                    "message": "The server could not answer; try again later.", "fields": []})
    log = log_with(server["log"], "Unhandled error on GET /api")
    assert "Unhandled error on GET /api" in log and server["credentials"]["clientpass"] not in log


def test_slow_clients_get_answers_and_hold_up_no_one(server):
    """Phones on slow networks, straight to the server (no proxy in front): four send their
    headers a line every 2 s, one connects and asks 3 s later. All are answered, and other
    requests are answered meanwhile (2 workers: sync workers would be held by the first two)."""
    answers, meanwhile = slow_clients_meanwhile(
        server["base"], lambda: assert_ok(http(server, {"action": "feedback_types"})[0]))
    assert meanwhile  # the others were answered while every trickling client was still sending
    assert answers == [b"HTTP/1.1 200 OK"] * 5


def test_the_sync_worker_class_for_a_proxy_in_front(tmp_path):
    """WORKER_CLASS=sync (docs/operations.md): reports and protocol errors as with gthread."""
    env = {**site_env(tmp_path), "WORKER_CLASS": "sync"}
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    credentials = json.loads(run_py(env, "create-client", "--name", "Sync", "--bank", "BANK1", "--json"))
    with served(env, tmp_path / "server.log") as base:
        site = {"base": base, "credentials": credentials}
        assert http(site, report(site))[0] == 200
        address = urllib.parse.urlsplit(base)
        with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
            connection.sendall(b"get /api HTTP/1.1\r\nHost: test\r\n\r\n")
            assert connection.recv(4096).endswith(b'"error": "method_not_allowed", '
                                                  b'"message": "Use GET or POST (in capitals).", "fields": []}')
    assert "Using worker: JsonSyncWorker" in (tmp_path / "server.log").read_text()
    result = subprocess.run([sys.executable, "run.py", "serve", "--port", "1"], cwd=ROOT, capture_output=True,
                            text=True, env={**env, "WORKER_CLASS": "eventlet"})
    assert result.returncode == 1 and "WORKER_CLASS must be one of gthread, sync" in result.stderr
    result = subprocess.run([sys.executable, "run.py", "serve", "--port", "1"], cwd=ROOT, capture_output=True,
                            text=True, env={**env, "PG_PREPARED_STATEMENTS": "false"})
    assert result.returncode == 1 and "PG_PREPARED_STATEMENTS must be 1 (on) or 0 (off), not 'false'" in result.stderr
    result = subprocess.run([sys.executable, "run.py", "serve", "--port", "1"], cwd=ROOT, capture_output=True,
                            text=True, env={**env, "PG_READ_WORK_MEM": "32MB; DROP TABLE feedback"})
    assert result.returncode == 1 and "PG_READ_WORK_MEM must be a size such as 32MB" in result.stderr


def assert_ok(status):
    assert status == 200


def test_the_demo_keeps_the_origins_its_user_added_across_restarts(tmp_path):
    """`make run` adds its demo page's origins to the widget's list; it used to replace the list."""
    env = {**site_env(tmp_path), "JOBS": "0"}

    def start_demo():
        port = free_port()
        with (tmp_path / "demo.log").open("a") as log:
            process = subprocess.Popen([sys.executable, "run.py", "serve", "--demo", "--port", str(port)], cwd=ROOT,
                                       env=env, stdout=log, stderr=subprocess.STDOUT)
        assert wait_until_up(f"http://127.0.0.1:{port}/healthz", process, seconds=90), (tmp_path / "demo.log").read_text()
        process.terminate()
        process.wait(timeout=20)

    start_demo()
    clientkey = json.loads((tmp_path / "demo-credentials.json").read_text())["clientkey"]
    run_py(env, "widget-origins", "--clientkey", clientkey, "--add", "https://mine.example")
    start_demo()
    assert "https://mine.example" in run_py(env, "widget-origins", "--clientkey", clientkey).split()
