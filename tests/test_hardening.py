"""Issue 10's hardening, each item through the real server (run.py serve: gunicorn, 2 workers)
on SQLite and on PostgreSQL: answers that were 5xx, acted when they should not, or leaked."""
import json
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import psycopg2
import pytest

from support import DATA, ROOT, PostgresCluster, log_with, new_database, run_py, served, site_env, site_stored_id

ORIGIN = "https://bank.example"


def new_site(request, tmp, kind, database_name="hardening"):
    """The environment of a site with the test catalogue, on SQLite or in a new PostgreSQL database."""
    env = site_env(tmp)
    if kind == "postgresql":
        env["DATABASE_URL"] = new_database(request.getfixturevalue("postgres_server"), database_name)
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    return env


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, tmp_path_factory):
    """A served site with the test catalogue and one BANK1 client (API and widget)."""
    tmp = tmp_path_factory.mktemp(f"hardening-{request.param}")
    env = new_site(request, tmp, request.param)
    credentials = json.loads(run_py(env, "create-client", "--name", "First Bank app", "--bank", "BANK1",
                                    "--origin", ORIGIN, "--json"))
    with served(env, tmp / "server.log") as base:
        yield {"base": base, "env": env, "credentials": credentials, "log": tmp / "server.log", "tmp": tmp,
               "kind": request.param}


def exchange(site, raw):
    """Send raw bytes; returns (status, headers as a lower-cased dict, body bytes)."""
    address = urllib.parse.urlsplit(site["base"])
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def request(site, method="GET", query="", body=None, headers=()):
    lines = [f"{method} /api{'?' + query if query else ''} HTTP/1.1", "Host: test", "Connection: close", *headers]
    if body is not None and not any(line.startswith("Transfer-Encoding:") for line in headers):
        lines.append(f"Content-Length: {len(body)}")
    return exchange(site, ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))


def api_answer(site, **kwargs):
    """(status, error code or "success") of an /api request, which must answer JSON."""
    status, headers, body = request(site, **kwargs)
    assert headers["content-type"] == "application/json", (status, body[:200])
    answer = json.loads(body)
    return status, answer.get("error", answer["status"])


def params(site, **overrides):
    credentials = site["credentials"]
    values = {"action": "user_feedback", "clientkey": credentials["clientkey"], "clientpass": credentials["clientpass"],
              "apikey": credentials["apikey"], "user_id": "asha@example.com", "user_latitude": "19.0597",
              "user_longitude": "72.8295", "feedback_type": "1", "offer_code": "OF1", "your_bank_code": "BANK1",
              "outlet_code": "O1"}
    return {key: value for key, value in {**values, **overrides}.items() if value is not None}


def all_reports(site):
    """Every report stored at the site, oldest first: [(stored user_id, comment)]."""
    url = site["env"]["DATABASE_URL"]
    query = "SELECT user_id, comment FROM feedback ORDER BY id"
    if site["kind"] == "sqlite":
        import sqlite3
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(query).fetchall()
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()


def stored(site, *user_ids):
    """The stored reports of these user ids (at BANK1), oldest first: [(user_id, comment)]."""
    by_stored = {site_stored_id(site["env"], user_id): user_id for user_id in user_ids}
    return [(by_stored[user], comment) for user, comment in all_reports(site) if user in by_stored]


def post_json(site, text):
    return api_answer(site, method="POST", body=text.encode("utf-8", "surrogatepass"),
                      headers=["Content-Type: application/json"])


# 1, 2 and 7: bodies and values that were 500s or stored the wrong thing.

def test_json_that_is_not_text_or_not_strings_is_refused(site):
    before = len(all_reports(site))
    good = params(site, user_id="json-first@example.com", comment="refused")
    assert post_json(site, json.dumps(good)) == (200, "success")
    for field in ("clientkey", "user_id", "offer_code", "comment"):  # a lone surrogate, as JSON spells it
        body = json.dumps(good).replace(f'"{field}": "', f'"{field}": "\\ud800', 1)
        assert post_json(site, body) == (400, "invalid_value"), field
    assert post_json(site, "[" * 4000 + "]" * 4000) == (400, "invalid_value")
    assert post_json(site, json.dumps({**good, "user_id": False})) == (400, "invalid_value")
    assert post_json(site, json.dumps({**good, "user_id": "json-nan@example.com"}).replace('"19.0597"', "NaN")) \
        == (400, "invalid_value")
    numbers = {**good, "user_id": "json-numbers@example.com", "user_latitude": 19.0597, "user_longitude": 72.8295,
               "feedback_type": 1}
    assert post_json(site, json.dumps(numbers)) == (200, "success")
    assert stored(site, "json-first@example.com", "json-numbers@example.com") == [
        ("json-first@example.com", "refused"), ("json-numbers@example.com", "refused")]
    assert len(all_reports(site)) == before + 2  # nothing else, under any id


@pytest.mark.parametrize("overrides", [
    {"user_latitude": "١٩.٠٥٩٧"}, {"user_latitude": "１９.０５９７"}, {"user_latitude": "1_9.0597"},
    {"feedback_type": "１"}, {"feedback_type": "01"}, {"user_id": "\x0bstrict@example.com"},
    {"user_id": "strict@example.com\x85"}, {"comment": "\x1c"}, {"device_id": "\x0c"},
])
def test_lenient_spellings_are_refused(site, overrides):
    before = len(all_reports(site))
    status, code = api_answer(site, query=urllib.parse.urlencode(params(site, **{"user_id": "strict@example.com", **overrides})))
    assert (status, code) in ((400, "invalid_value"), (422, "unknown_code"))
    assert len(all_reports(site)) == before  # stored under no id, however spelled


def test_replacement_character_is_text_and_a_bad_byte_in_a_name_is_named(site):
    query = urllib.parse.urlencode(params(site, user_id="fffd@example.com", comment="price \ufffd shown"))
    assert api_answer(site, query=query) == (200, "success")
    assert stored(site, "fffd@example.com") == [("fffd@example.com", "price \ufffd shown")]
    query = urllib.parse.urlencode(params(site, user_id="badname@example.com")) + "&x%FF=1"
    assert api_answer(site, query=query) == (400, "invalid_value")


# 3: chunked bodies over the limit.

def chunked(body, size=4000):
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)) + b"0\r\n\r\n"


def test_a_chunked_body_is_held_to_the_size_limit(site):
    before = len(all_reports(site))
    head = ["Content-Type: application/x-www-form-urlencoded", "Transfer-Encoding: chunked"]
    body = urllib.parse.urlencode(params(site, user_id=None)).encode()
    # The user id straddles the 16 KB limit: it used to be cut there and stored.
    body += b"&pad=" + b"y" * (16 * 1024 - len(body) - 30) + b"&user_id=chunk-cut-in-two@example.com"
    assert api_answer(site, method="POST", body=chunked(body), headers=head) == (413, "payload_too_large")
    small = urllib.parse.urlencode(params(site, user_id="chunk-whole@example.com")).encode()
    assert api_answer(site, method="POST", body=chunked(small, 50), headers=head) == (200, "success")
    assert api_answer(site, method="POST", body=b"zz\r\nabc\r\n", headers=head) == (400, "invalid_value")
    # The body as its headers describe it, or not at all: gunicorn takes the chunks off a
    # "gzip, chunked" body and would leave the gzip; an unknown coding is the client's fault.
    other = urllib.parse.urlencode(params(site, user_id="chunk-coded@example.com")).encode()
    for coding in ("gzip, chunked", "deflate, chunked", "xchunked"):
        assert api_answer(site, method="POST", body=chunked(other), headers=[
            "Content-Type: application/x-www-form-urlencoded", f"Transfer-Encoding: {coding}"]) == (400, "invalid_value")
    assert stored(site, "chunk-whole@example.com") == [("chunk-whole@example.com", "")]
    assert len(all_reports(site)) == before + 1  # no id cut in two (which would be stored under another pseudonym)
    assert "Traceback" not in site["log"].read_text()


# 4: only GET and POST act; every answer under /api is JSON.

def test_other_methods_do_not_act_and_answer_json(site):
    before = len(all_reports(site))
    query = urllib.parse.urlencode(params(site, user_id="head@example.com"))
    status, headers, body = request(site, method="HEAD", query=query)
    assert (status, headers["allow"], body) == (405, "GET, POST", b"")
    for method in ("OPTIONS", "PUT", "get"):
        assert api_answer(site, method=method, query=query) == (405, "method_not_allowed"), method
    assert len(all_reports(site)) == before
    assert api_answer(site, query="action=feedback_types&x=1 HTTP/1.1 junk") == (400, "invalid_value")


# 5: the widget's frame and forms.

def frame(site, query, referer=None):
    lines = [f"GET /widget/frame?{query} HTTP/1.1", "Host: test", "Connection: close"]
    status, headers, body = exchange(site, ("\r\n".join(lines + ([f"Referer: {referer}"] if referer else []))
                                            + "\r\n\r\n").encode("utf-8"))
    assert headers["content-type"].startswith("text/html")
    return status, body.decode()


def test_the_widget_frame_refuses_bad_input_without_a_500(site):
    key = site["credentials"]["widget_key"]
    base = f"key={key}&offer=OF1&bank=BANK1&outlet=O1"
    assert frame(site, base + "&device=d1", referer=ORIGIN + "/page")[0] == 200
    assert frame(site, base + "&device=d1", referer="http://[")[0] == 200
    assert frame(site, base + "&uid=u1&sig=%C3%A9t%C3%A9")[0] == 403
    for query in (base + "&device=%00%1b", base + "&device=d%00", base + "&uid=u%00&sig=00",
                  f"key={key}&offer=OF1&bank=BANK%00&outlet=O1&device=d", f"key={key}&offer=OF%00&bank=BANK1&device=d",
                  base + "&device=d&lang=%FF", "key=wk%00&offer=OF1&device=d1"):
        status, page = frame(site, query)
        assert status == 400 and 'name="token"' not in page, query


# 8: secrets and customers' data stay out of the log.

def test_secrets_and_customer_ids_never_reach_the_log(site):
    credentials = site["credentials"]
    spelt = (f"action=user_feedback&%63lientkey={credentials['clientkey']}&%63lientpass={credentials['clientpass']}"
             f"&%61pikey={credentials['apikey']}&user%5Fid=logged-customer%40example.com&user_latitude=19.0597"
             "&user_longitude=72.8295&feedback_type=1&offer_code=OF1&your_bank_code=BANK1&outlet_code=O1")
    assert api_answer(site, query=spelt) == (200, "success")
    status, _, body = exchange(site, f"GET /api?clientpass={credentials['clientpass']}&user_id=logged-customer "
                                     "HTTP/1.1 x\r\nHost: test\r\n\r\n".encode())
    assert status == 400 and b"logged-customer" not in body
    status, headers, body = exchange(site, f"get /api?apikey={credentials['apikey']} HTTP/1.1\r\n\r\n".encode())
    assert status == 405 and credentials["apikey"].encode() not in body
    status, _, body = exchange(site, f"GET /api?apikey={credentials['apikey']} HTTP/1.1\r\nBad Header\r\n\r\n".encode())
    assert status == 400 and credentials["apikey"].encode() not in body
    log = log_with(site["log"], "Invalid request from ip=127.0.0.1: InvalidHeader")
    log = log_with(site["log"], "%63lientpass=[REDACTED]")
    for value in (credentials["clientpass"], credentials["apikey"], "logged-customer", credentials["widget_secret"]):
        assert value not in log
    assert "%63lientpass=[REDACTED]" in log and "Invalid request from ip=127.0.0.1: InvalidHeader" in log


# 13: request lines are bounded, and the published URL still fits.

def test_request_lines_are_bounded_and_the_published_url_fits(site):
    comment = "Refused: 20% off & 'no' \"offer\"; staff said <..>. " * 20  # 1,000 characters
    assert len(comment) == 1000
    query = urllib.parse.urlencode(params(site, user_id="long-url@example.com", comment=comment), safe="")
    query = query.replace("Refused", "%52efused")  # as a client that encodes every character might
    assert api_answer(site, query=query) == (200, "success")
    assert stored(site, "long-url@example.com") == [("long-url@example.com", comment.strip())]
    status, headers, body = request(site, query="action=feedback_types&pad=" + "x" * 10_000)
    assert (status, json.loads(body)["error"]) == (414, "payload_too_large")


# 11 and 12: private data files, a real secret key, no sniffing.

def test_data_files_are_private_and_a_short_secret_key_is_refused(site):
    if site["kind"] == "sqlite":
        assert stat.S_IMODE(site["tmp"].stat().st_mode) == 0o700
        for name in ("site.db", "site.db-wal", "site.db-shm", "secret_key"):
            assert stat.S_IMODE((site["tmp"] / name).stat().st_mode) == 0o600, name
    folder = site["tmp"] / "empty-key"
    folder.mkdir(exist_ok=True)
    (folder / "secret_key").write_text("")
    for env in ({**site["env"], "OFFERS_FEEDBACK_DATA": str(folder)}, {**site["env"], "SECRET_KEY": "x" * 31}):
        result = subprocess.run([sys.executable, "run.py", "init-db"], cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 1 and "at least 32 random characters" in result.stderr, result.stderr


def test_every_answer_says_nosniff(site):
    for path in ("/", "/healthz", "/static/site.css", "/widget.js", "/api?action=feedback_types", "/admin/login"):
        status, headers, _ = exchange(site, f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        assert status == 200 and headers["x-content-type-options"] == "nosniff", path


# 16: live counters equal a recount, whatever the order reports arrive in.

def counter_tables(env):
    """Every counter row of the leaderboard's tables, in key order."""
    queries = ["SELECT scope, feedback_type, city, day, merchant_id, reports, customer_days, score, verified_reports, "
               "verified_customer_days, verified_score, unverified_customer_days, away_customer_days, "
               "discounted_customer_days, expired_claims FROM merchantday ORDER BY 1, 2, 3, 4, 5",
               "SELECT merchant_id, day, bank_id, user_id, network_id, anonymous, new_customer, discounted "
               "FROM customerday ORDER BY 1, 2, 3, 4",
               "SELECT merchant_id, day, bank_id, source FROM sourceday ORDER BY 1, 2, 3, 4",
               "SELECT count(*) FROM feedback WHERE uncounted",
               "SELECT merchant_id, bank_id, user_id, anonymous, day FROM merchantcustomer ORDER BY 1, 2, 3, 4",
               "SELECT merchant_id, day, bank_id, anonymous, customers FROM customersbylastday WHERE customers <> 0 "
               "ORDER BY 1, 2, 3, 4"]
    url = env["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        import sqlite3
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return [[tuple(str(value) for value in row) for row in conn.execute(query)] for query in queries]
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        tables = []
        for query in queries:
            cursor.execute(query)
            tables.append([tuple(str(value) for value in row) for row in cursor.fetchall()])
        return tables


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_live_counters_equal_a_recount_under_concurrent_load(request, tmp_path, kind):
    """8 workers take reports from 16 connections at once: the same customer ids at two
    banks, customers travelling between outlets and positions, delayed reports, shared
    devices and IPs, duplicates. Counted live, the counters must equal a recount exactly."""
    import random
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime, timedelta, timezone

    env = new_site(request, tmp_path, kind, "counters")
    network = json.loads(run_py(env, "create-client", "--name", "Network app", "--network", "NET1", "--json"))
    bank = json.loads(run_py(env, "create-client", "--name", "First Bank app", "--bank", "BANK1", "--json"))
    now = datetime.now(timezone.utc)
    rng = random.Random(16)
    places = [("O1", (19.0597, 72.8295)), ("O1", (19.2, 72.9)), ("O2", None), ("O2", (19.0597, 72.8295)), ("O1", None)]

    def one_report(n):
        credentials, bank_code, offer = rng.choice([(network, "BANK1", "OF2"), (network, "BANK2", "OF2"),
                                                    (bank, "BANK1", "OF1"), (bank, "BANK1", "OF3")])
        outlet, position = rng.choice(places)
        values = {"action": "user_feedback", "clientkey": credentials["clientkey"],
                  "clientpass": credentials["clientpass"], "apikey": credentials["apikey"],
                  "user_id": f"customer{rng.randrange(40)}@example.com", "feedback_type": str(rng.choice([1, 2, 3])),
                  "offer_code": offer, "your_bank_code": bank_code, "outlet_code": outlet,
                  "device_id": f"device{rng.randrange(12)}", "client_ip": f"10.0.0.{rng.randrange(8)}"}
        if position:
            values.update(user_latitude=str(position[0]), user_longitude=str(position[1]), user_accuracy="12")
        if rng.random() < 0.3:
            values["reported_at"] = (now - timedelta(days=rng.randrange(6), hours=rng.randrange(24))).isoformat()
        return urllib.parse.urlencode(values)

    queries = [one_report(n) for n in range(600)]
    with served(env, tmp_path / "server.log", workers=8) as base:
        def send(query):
            try:
                with urllib.request.urlopen(f"{base}/api?{query}", timeout=30) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())["message"]
        with ThreadPoolExecutor(max_workers=16) as pool:
            assert set(pool.map(send, queries)) == {200}
    # What the workers had not counted yet when the server stopped is counted as they would.
    subprocess.run([sys.executable, "-c", "from backend.cli import ready_app; from backend.rollups import count_pending; "
                    "ready_app(); count_pending()"], cwd=ROOT, env=env, check=True)
    live = counter_tables(env)
    assert live[3] == [("0",)] and len(live[0]) > 100 and len(live[1]) > 50
    run_py(env, "rebuild-rollups")
    assert counter_tables(env) == live


# 17: a PostgreSQL restart costs no request once the database is back.

def test_no_request_fails_after_a_postgresql_restart(tmp_path):
    cluster = PostgresCluster()  # its own: the restart cuts every connection to it
    try:
        env = {**site_env(tmp_path), "DATABASE_URL": cluster.url}
        run_py(env, "import-catalog", str(DATA / "catalog.json"))
        credentials = json.loads(run_py(env, "create-client", "--name", "Restart", "--bank", "BANK1", "--json"))
        with served(env, tmp_path / "server.log") as base:
            site = {"base": base, "credentials": credentials}
            for n in range(8):  # every worker (and thread) holds a connection
                assert api_answer(site, query=urllib.parse.urlencode(params(site, user_id=f"before{n}"))) \
                    == (200, "success")
            cluster.pg_ctl("restart", "-m", "fast")
            answers = [api_answer(site, query=urllib.parse.urlencode(params(site, user_id=f"after{n}")))
                       for n in range(16)]
        assert answers == [(200, "success")] * 16
    finally:
        cluster.stop()
