"""Admin sessions, log-in lock-out and error pages through the real server (run.py serve,
gunicorn, several workers) on SQLite and PostgreSQL, over plain HTTP."""
import itertools
import json
import urllib.parse
import urllib.request
import os
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import psycopg2
import pytest

from admin_browser import AdminBrowser
from support import DATA, ROOT, new_database, run_py, served

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another long passphrase"
emails = (f"admin{n}@bank1.example" for n in itertools.count())


def own_database(request, tmp, name):
    """A database of this module's own: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp / (name + '.db')}"
    return new_database(request.getfixturevalue("postgres_server"), name)


@dataclass
class Site:
    """A served app; its repr (in test output) leaves the environment out."""

    base: str
    url: str = field(repr=False)
    env: dict = field(repr=False)
    log: Path = field(repr=False)
    tmp: Path = field(repr=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, tmp_path_factory):
    """The served app (3 workers) with the test catalogue, on each database in turn."""
    tmp = tmp_path_factory.mktemp("admin-site")
    env = {**os.environ, "DATABASE_URL": own_database(request, tmp, "admin_site"), "OFFERS_FEEDBACK_DATA": str(tmp)}
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    with served(env, tmp / "server.log", workers=3) as base:
        yield Site(base, env["DATABASE_URL"], env, tmp / "server.log", tmp)


def new_admin(site, password=PASSWORD):
    """A fresh BANK1 admin made with run.py create-admin; its e-mail."""
    email = next(emails)
    run_py(site.env, "create-admin", "--email", email, "--password", password, "--scope", "bank:BANK1")
    return email


def logged_in(site, email, password=PASSWORD):
    browser = AdminBrowser(site.base)
    assert browser.log_in(email, password).status == 302
    return browser


def db_execute(url, sql, *args):
    """Run one statement on the site's database, as an operator at a SQL prompt would; its first row."""
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn, conn:
            return conn.execute(sql, args).fetchone()
    with closing(psycopg2.connect(url)) as conn, conn, conn.cursor() as cursor:
        cursor.execute(sql.replace("?", "%s"), args)
        return cursor.fetchone() if cursor.description else None


def stored_time(value):
    """A timestamp as read back: SQLite gives the text peewee stored, PostgreSQL a datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def same_cookie(first, second):
    return first.cookie == second.cookie


def test_logout_ends_the_session_for_every_copy_of_its_cookie(site):
    browser = logged_in(site, new_admin(site))
    copied = browser.copy()
    assert copied.signed_in()
    assert browser.log_out().status == 302
    assert not copied.signed_in()
    assert not browser.signed_in()


def test_a_password_reset_ends_every_session_of_the_admin(site):
    email = new_admin(site)
    first, second = logged_in(site, email), logged_in(site, email)
    copied = first.copy()
    bystander = logged_in(site, new_admin(site))
    run_py(site.env, "create-admin", "--email", email, "--password", NEW_PASSWORD, "--scope", "bank:BANK1")
    assert [browser.signed_in() for browser in (first, second, copied)] == [False, False, False]
    assert bystander.signed_in()  # another admin's session goes on
    assert first.log_in(email, PASSWORD).status == 400
    assert first.log_in(email, NEW_PASSWORD).status == 302 and first.signed_in()


def test_a_disabled_admin_is_logged_out_everywhere_and_cannot_log_in(site):
    email = new_admin(site)
    browser = logged_in(site, email)
    copied = browser.copy()
    assert "disabled" in run_py(site.env, "disable-admin", "--email", email.upper())
    assert not copied.signed_in() and not browser.signed_in()
    refused = browser.log_in(email, PASSWORD)
    assert refused.status == 400 and "Wrong e-mail or password" in refused.text  # says no more than for a stranger
    run_py(site.env, "enable-admin", "--email", email)
    assert browser.log_in(email, PASSWORD).status == 302 and browser.signed_in()


def test_disabling_or_enabling_an_unknown_admin_says_so(site):
    for command in ("disable-admin", "enable-admin"):
        result = subprocess.run([sys.executable, "run.py", command, "--email", "nobody@bank1.example"], cwd=ROOT, env=site.env,
                                capture_output=True, text=True)
        assert result.returncode == 1 and "No admin with e-mail 'nobody@bank1.example'" in result.stderr


def test_login_starts_a_new_session_and_ends_the_browsers_previous_one(site):
    email = new_admin(site)
    browser = AdminBrowser(site.base)
    token = browser.csrf_token()
    planted = browser.copy()  # the cookie before login, as someone fixing the session would hold it
    assert browser.log_in(email, PASSWORD, token).status == 302
    assert not same_cookie(browser, planted) and not planted.signed_in() and browser.signed_in()
    earlier = browser.copy()
    assert browser.log_in(email, PASSWORD).status == 302
    assert not same_cookie(browser, earlier) and not earlier.signed_in() and browser.signed_in()


def test_sessions_end_after_30_idle_minutes_and_8_hours_however_active(site):
    email = new_admin(site)
    idle = logged_in(site, email)  # its session is the admin's first row, busy's the second
    busy = logged_in(site, email)
    rows = "FROM adminsession WHERE admin_id = (SELECT id FROM adminuser WHERE email = ?)"
    first_row = f"id = (SELECT MIN(id) {rows})"
    # The clock moved on, as if the time had passed: idle's last request was 31 minutes ago;
    # busy logged in 8 hours ago, though it was active a moment ago.
    ago_31_min = stored_time(db_execute(site.url, f"SELECT MIN(last_seen_at) {rows}", email)[0]) - timedelta(minutes=31)
    db_execute(site.url, f"UPDATE adminsession SET last_seen_at = ? WHERE {first_row}", ago_31_min, email)
    assert not idle.signed_in()
    assert db_execute(site.url, f"SELECT COUNT(*) {rows}", email) == (1,)  # the ended one is deleted
    assert busy.signed_in()
    ago_8_hours = stored_time(db_execute(site.url, f"SELECT created_at {rows}", email)[0]) - timedelta(hours=8, seconds=1)
    db_execute(site.url, f"UPDATE adminsession SET created_at = ? WHERE {first_row}", ago_8_hours, email)
    assert not busy.signed_in()
    assert db_execute(site.url, f"SELECT COUNT(*) {rows}", email) == (0,)


def test_an_idle_session_ends_after_the_configured_time_while_an_active_one_goes_on(site):
    email = new_admin(site)
    idle_seconds = 3
    env = {**site.env, "ADMIN_IDLE_MINUTES": str(idle_seconds / 60)}
    with served(env, site.tmp / "idle-server.log") as base:
        idle, active = AdminBrowser(base), AdminBrowser(base)
        assert idle.log_in(email, PASSWORD).status == 302 and active.log_in(email, PASSWORD).status == 302
        assert idle.signed_in()
        last_used = time.monotonic()
        while time.monotonic() - last_used < 1.5 * idle_seconds:
            assert active.signed_in()  # each request keeps it open
            time.sleep(0.25)  # a person reading between clicks
        assert not idle.signed_in()
        assert active.signed_in()


@pytest.mark.parametrize("guesses", [4, 5, 12])
def test_concurrent_wrong_guesses_lock_the_account_after_exactly_five(site, guesses):
    email = new_admin(site)
    browsers = [AdminBrowser(site.base) for _ in range(guesses)]
    tokens = [browser.csrf_token() for browser in browsers]
    start = threading.Barrier(guesses)

    def guess(n):
        start.wait()
        return browsers[n].log_in(email, "a wrong password", tokens[n]).status

    with ThreadPoolExecutor(guesses) as pool:
        assert list(pool.map(guess, range(guesses))) == [400] * guesses
    failed, locked_until = db_execute(site.url, "SELECT failed_logins, locked_until FROM adminuser WHERE email = ?",
                                      email)
    assert (failed, locked_until is not None) == (min(guesses, 5), guesses >= 5)
    # The right password: refused while locked, accepted after fewer than five failures.
    assert AdminBrowser(site.base).log_in(email, PASSWORD).status == (400 if guesses >= 5 else 302)


@pytest.mark.parametrize("email", ["ops\x00@bank1.example", "ops@bank1\x1b.example", "\x7f"])
def test_a_control_character_in_the_login_email_is_a_form_error(site, email):
    answer = AdminBrowser(site.base).log_in(email, PASSWORD)
    assert answer.status == 400 and "An e-mail address has no control characters." in answer.text


@pytest.mark.parametrize("method, path, status, title", [
    ("GET", "/no-such-page", 404, "Page not found"),
    ("GET", "/admin/no-such-page", 404, "Page not found"),
    ("GET", "/admin/merchants/1/nothing.csv", 404, "Page not found"),
    ("GET", "/widget/assets/nothing.js", 404, "Page not found"),
    ("GET", "/admin/logout", 405, "Not allowed here"),
    ("POST", "/", 405, "Not allowed here"),
    ("POST", "/admin/logout", 400, "Bad request"),  # no CSRF token
])
def test_error_pages_are_the_sites_own(site, method, path, status, title):
    answer = AdminBrowser(site.base).request(method, path)
    assert answer.status == status and answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f"<h1>{title}</h1>" in answer.text and 'class="bar"' in answer.text and "Werkzeug" not in answer.text
    if status == 405:
        assert "POST" in answer.headers["Allow"] or "GET" in answer.headers["Allow"]


def test_api_errors_stay_json(site):
    answer = AdminBrowser(site.base).get("/api/no-such-path")
    assert answer.status == 404 and answer.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("next_path", ["//[", "/%0D%0AX:1", "/admin/%00", "https://evil.example/"])
def test_login_with_a_strange_next_goes_to_the_leaderboard(site, next_path):
    browser = AdminBrowser(site.base)
    email = new_admin(site)
    token = browser.csrf_token(f"/admin/login?next={next_path}")
    answer = browser.request("POST", f"/admin/login?next={next_path}",
                             {"email": email, "password": PASSWORD, "csrf_token": token})
    assert (answer.status, answer.headers["Location"]) == (302, "/admin/leaderboard")


def test_out_of_range_ids_and_dates_and_hostile_codes_answer_without_a_500(site):
    catalog = site.tmp / "evil-catalog.json"
    catalog.write_text(json.dumps({
        "merchants": [{"code": 'EVIL.html"; x="', "name": "Evil"}],
        "outlets": [{"code": "EVIL-1", "merchant": 'EVIL.html"; x="', "name": "Evil outlet", "city": "Pune"}],
        "offers": [{"code": "EVIL-OF", "title": "Evil offer", "bank": "BANK1", "merchant": 'EVIL.html"; x="',
                    "valid_from": "2020-01-01", "valid_to": "2099-12-31"}]}))
    run_py(site.env, "import-catalog", str(catalog))
    client = json.loads(run_py(site.env, "create-client", "--name", "Evil test", "--bank", "BANK1", "--json"))
    query = urllib.parse.urlencode({"action": "user_feedback", "user_id": "c1", "feedback_type": "1",
                                    "offer_code": "EVIL-OF", "your_bank_code": "BANK1", "outlet_code": "EVIL-1",
                                    **{key: client[key] for key in ("clientkey", "clientpass", "apikey")}})
    with urllib.request.urlopen(f"{site.base}/api?{query}", timeout=10) as answer:
        assert answer.status == 200
    merchant_id = db_execute(site.url, "SELECT id FROM merchant WHERE name = 'Evil'")[0]
    email = next(emails)
    run_py(site.env, "create-admin", "--email", email, "--password", PASSWORD, "--scope", "platform")
    browser = logged_in(site, email)
    for path in ("/admin/merchants/9223372036854775808", "/admin/merchants/9223372036854775808/reports.csv"):
        assert browser.get(path).status == 404, path
    answer = browser.get("/admin/leaderboard?period=custom&start=9999-12-31&end=9999-12-31")
    assert answer.status == 400 and "Choose dates before the year 3000." in answer.text
    answer = browser.get(f"/admin/merchants/{merchant_id}/reports.csv")
    disposition = answer.headers["Content-Disposition"]
    assert answer.status == 200 and disposition.startswith('attachment; filename="EVIL.html___x__-reports-')
    assert disposition.count('"') == 2 and ";" not in disposition.split("filename=")[1]


def test_a_server_fault_is_the_sites_own_500_page_without_details(site):
    browser = logged_in(site, new_admin(site))
    db_execute(site.url, "ALTER TABLE adminuser RENAME TO adminuser_away")
    try:
        answer = browser.get("/admin/leaderboard")
    finally:
        db_execute(site.url, "ALTER TABLE adminuser_away RENAME TO adminuser")
    assert answer.status == 500 and "<h1>Something went wrong</h1>" in answer.text
    assert not any(word in answer.text for word in ("Traceback", "adminuser", "Error:", "line "))
    assert "Unhandled error on GET /admin/leaderboard" in site.log.read_text()  # the details go to the log
    assert browser.signed_in()  # the same session works once the table is back
