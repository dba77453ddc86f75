"""The production set-up of deploy/: nginx in front of `run.py serve` with WORKER_CLASS=sync and
PROXIES=1, called over HTTP from several client addresses and in real Chromium."""
import gzip
import http.client
import json
import re
import sqlite3
import subprocess
import sys
import threading
import urllib.parse
from http.server import ThreadingHTTPServer

import pytest

from backend.feedback import ip_hash
from support import (DATA, ROOT, BankPages, free_port, log_with, nginx, nginx_in_front, report_params, run_py,
                     send_two_clicks, served, site_env, site_stored_id, slow_clients_meanwhile)

SECRET = "deploy-test-secret-key-0123456789-abcdefghijklmnop"
AT_O1 = {"latitude": 19.0597, "longitude": 72.8295, "accuracy": 20}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """gunicorn (2 sync workers, PROXIES=1) behind nginx, an API client, and a bank page on another origin."""
    tmp = tmp_path_factory.mktemp("deploy")
    host_port = free_port()
    host = f"http://localhost:{host_port}"
    env = {**site_env(tmp), "WORKER_CLASS": "sync", "PROXIES": "1", "SECRET_KEY": SECRET,
           "WIDGET_REPORTS_PER_IP_HOUR": "2"}
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    api = json.loads(run_py(env, "create-client", "--name", "First Bank app", "--bank", "BANK1", "--json"))
    web = json.loads(run_py(env, "create-client", "--name", "First Bank web", "--bank", "BANK1", "--origin", host, "--json"))
    with served(env, tmp / "server.log") as app, nginx_in_front(app, tmp / "nginx") as base:
        pages = ThreadingHTTPServer(("127.0.0.1", host_port), BankPages(base, {"main": web}).handler())
        threading.Thread(target=pages.serve_forever, daemon=True).start()
        yield {"base": base, "app": app, "host": host, "api": api, "web": web, "db": tmp / "site.db", "env": env,
               "nginx_log": tmp / "nginx" / "logs" / "access.log", "server_log": tmp / "server.log"}
        pages.shutdown()


def send(base, method, target, body=None, headers=None, source="127.0.0.1", chunked=False):
    """One request from a client address of the loopback network; returns (status, headers, body bytes)."""
    address = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30, source_address=(source, 0))
    try:
        connection.request(method, target, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def api_query(site, **overrides):
    return urllib.parse.urlencode(report_params(site["api"], **overrides))


def stored(site, sql, args=()):
    with sqlite3.connect(site["db"]) as conn:
        return conn.execute(sql, args).fetchall()


def test_the_published_url_and_json_errors_through_nginx(site):
    status, headers, body = send(site["base"], "GET", "/api?" + api_query(site))
    answer = json.loads(body)
    assert (status, answer["status"], answer["location"]["verdict"]) == (200, "success", "at_outlet")
    assert stored(site, "SELECT user_id FROM feedback WHERE public_id = ?", (answer["feedback_id"],)) == [
        (site_stored_id(site["env"], "asha@example.com"),)]
    status, headers, body = send(site["base"], "GET", "/api?" + api_query(site, clientpass="wrong"))
    assert (status, headers["Content-Type"], json.loads(body)["error"]) == (401, "application/json", "invalid_credentials")
    # Neither access log keeps the secret; nginx's keeps the path only.
    nginx_log = log_with(site["nginx_log"], '"GET /api HTTP/1.1" 200')
    assert site["api"]["clientpass"] not in nginx_log + site["server_log"].read_text()
    assert '"GET /api HTTP/1.1" 200' in nginx_log


def test_oversized_requests_get_the_apis_json_error(site):
    """Bodies over the app's 16 KB get the app's own 413 (nginx lets up to 64 KB through);
    what nginx refuses itself is answered in the same shape."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = api_query(site, comment="x" * 20_000).encode()
    direct = send(site["app"], "POST", "/api", body, form)
    assert direct[0] == 413 and json.loads(direct[2])["error"] == "payload_too_large"
    for chunked in (False, True):
        status, headers, answer = send(site["base"], "POST", "/api", body, form, chunked=chunked)
        assert (status, headers["Content-Type"], answer) == (413, "application/json", direct[2])
    refused_by_nginx = [
        send(site["base"], "POST", "/api?" + api_query(site), b"x" * 100_000, form),
        send(site["base"], "GET", "/api?" + api_query(site, comment="x" * 9000)),
        send(site["base"], "GET", "/api?" + api_query(site), headers={"X-Long": "x" * 9000}),
    ]
    assert [(status, headers["Content-Type"], json.loads(answer)["error"]) for status, headers, answer in refused_by_nginx] == [
        (413, "application/json", "payload_too_large"), (414, "application/json", "payload_too_large"),
        (431, "application/json", "payload_too_large")]
    # nginx's error log would keep the request lines of these: it is kept to critical faults.
    logs = site["nginx_log"].parent
    assert site["api"]["clientpass"] not in (logs / "access.log").read_text() + (logs / "error.log").read_text()


def widget_report(site, source, device, forwarded_for=None):
    """The widget's two requests (frame, then report) from one client address; returns the report's status."""
    key = urllib.parse.urlencode({"key": site["web"]["widget_key"], "offer": "OF1", "outlet": "O1", "device": device})
    status, _, page = send(site["base"], "GET", f"/widget/frame?{key}", source=source)
    assert status == 200
    token = re.search(rb'name="token" value="([^"]+)"', page).group(1).decode()
    headers = {"Origin": site["base"], "Content-Type": "application/x-www-form-urlencoded"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    body = urllib.parse.urlencode({"token": token, "feedback_type": "1", "comment": "phone"}).encode()
    return send(site["base"], "POST", "/widget/report", body, headers, source=source)[0]


def test_the_app_sees_each_clients_own_address(site):
    """PROXIES=1: the widget's per-IP limit (2 an hour here) counts per client behind nginx,
    and an X-Forwarded-For a client sends itself changes nothing."""
    assert [widget_report(site, "127.0.0.2", f"phone-{n}") for n in range(2)] == [200, 200]
    assert widget_report(site, "127.0.0.2", "phone-3", forwarded_for="203.0.113.9") == 429
    assert widget_report(site, "127.0.0.3", "phone-4") == 200
    hashes = stored(site, "SELECT ip_hash FROM feedback WHERE channel = 'widget' AND comment = 'phone' ORDER BY id")
    assert hashes == [(ip_hash(SECRET, "127.0.0.2"),)] * 2 + [(ip_hash(SECRET, "127.0.0.3"),)]


@pytest.mark.parametrize("path", ["/static/site.css", "/widget.js", "/widget/assets/htmx.min.js", "/widget/assets/frame.css"])
def test_static_files_are_compressed(site, path):
    status, headers, body = send(site["base"], "GET", path, headers={"Accept-Encoding": "gzip"})
    assert (status, headers["Content-Encoding"]) == (200, "gzip")
    assert gzip.decompress(body) == send(site["app"], "GET", path)[2]


def test_api_answers_are_not_compressed(site):
    """Compressed answers that mix a secret with text a client chose leak the secret (BREACH)."""
    status, headers, _ = send(site["base"], "GET", "/api?action=feedback_types", headers={"Accept-Encoding": "gzip"})
    assert (status, headers["Content-Encoding"]) == (200, None)


def test_slow_clients_get_answers_and_hold_up_no_one(site):
    """Sync workers behind nginx: four clients send their headers a line every 2 s, one asks 3 s
    after connecting; nginx holds them, so the 2 workers answer everyone else meanwhile."""
    answers, meanwhile = slow_clients_meanwhile(
        site["base"], lambda: assert_ok(send(site["base"], "GET", "/api?action=feedback_types")[0]))
    assert meanwhile  # the others were answered while every trickling client was still sending
    assert answers == [b"HTTP/1.1 200 OK"] * 5


def test_the_widget_journey_in_chromium(browser, site):
    """The bank page on its own origin loads the widget through nginx; two clicks store a
    report at the outlet, counted against the browser's own address."""
    context = browser.new_context(viewport={"width": 390, "height": 800}, geolocation=AT_O1)
    context.grant_permissions(["geolocation"], origin=site["host"])
    try:
        page = context.new_page()
        page.goto(f"{site['host']}/plain?outlet=O1")
        send_two_clicks(page.frame_locator("iframe"))
    finally:
        context.close()
    rows = stored(site, "SELECT verdict, accuracy_m, ip_hash FROM feedback WHERE channel = 'widget' "
                        "AND comment <> 'phone'")
    assert rows == [("at_outlet", 20, ip_hash(SECRET, "127.0.0.1"))]


def test_nginx_answers_json_when_no_app_host_answers(tmp_path):
    nowhere = f"http://127.0.0.1:{free_port()}"
    with nginx_in_front(nowhere, tmp_path) as base:
        status, headers, body = send(base, "GET", "/api?action=user_feedback&clientpass=secret-in-the-query")
    assert (status, headers["Content-Type"], json.loads(body)["error"]) == (502, "application/json", "server_error")
    logs = (tmp_path / "logs" / "access.log").read_text() + (tmp_path / "logs" / "error.log").read_text()
    assert f"upstream={nowhere.removeprefix('http://')}:502" in logs and "secret-in-the-query" not in logs


def test_the_tls_configuration_is_valid(tmp_path):
    """The HTTPS set-up as rendered for production (a throwaway certificate): nginx accepts it."""
    binary = nginx()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=feedback.example.com", "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True)
    config = subprocess.run([sys.executable, "deploy/render_nginx.py", "--app", "10.0.0.11:8000", "--app", "10.0.0.12:8000",
                             "--server-name", "feedback.example.com", "--certificate", str(tmp_path / "cert.pem"),
                             "--certificate-key", str(tmp_path / "key.pem"), "--state-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    (tmp_path / "nginx.conf").write_text(config)
    checked = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                              "-e", str(tmp_path / "error.log")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "listen 443 ssl http2;" in config and "return 301 https://$host$request_uri;" in config


def assert_ok(status):
    assert status == 200
