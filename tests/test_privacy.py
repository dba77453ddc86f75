"""Privacy by design (issue 14), through the real server on both databases: pseudonyms
everywhere, retention that leaves the leaderboard as it was, and customers' access and
erasure requests by the API, the command line and the admin console."""
import json
import os
import struct
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from admin_browser import AdminBrowser
from support import DATA, ROOT, _pg_bin, run_py, served

SECRET_ID = "asha.secret-7731@example.com"
COMMENT = "Manager Vikram shouted at me 8d1f"
LATITUDE = 19.0597321  # a position at outlet O1 (11 m off its point)


@pytest.fixture
def site(database_url, tmp_path):
    """The real server on the test's database: the test catalogue, clients of BANK1, BANK3 and
    NET1, a platform admin and a First Bank admin."""
    env = {**os.environ, "DATABASE_URL": database_url, "OFFERS_FEEDBACK_DATA": str(tmp_path)}
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    clients = {code: json.loads(run_py(env, "create-client", "--name", code, f"--{kind}", code, "--json"))
               for kind, code in (("bank", "BANK1"), ("bank", "BANK3"), ("network", "NET1"))}
    for email, scope in (("ops@platform.example", "platform"), ("dpo@bank1.example", "bank:BANK1")):
        run_py(env, "create-admin", "--email", email, "--password", "a long enough password", "--scope", scope)
    with served(env, tmp_path / "server.log") as base:
        yield {"base": base, "env": env, "clients": clients, "url": database_url, "tmp": tmp_path}


def call(site, client="BANK1", **params):
    credentials = {k: site["clients"][client][k] for k in ("clientkey", "clientpass", "apikey")}
    query = urllib.parse.urlencode({**credentials, **params})
    try:
        with urllib.request.urlopen(f"{site['base']}/api?{query}", timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def report(site, user_id=SECRET_ID, client="BANK1", **params):
    values = {"action": "user_feedback", "user_id": user_id, "user_latitude": str(LATITUDE), "user_longitude": "72.8295",
              "user_accuracy": "15", "feedback_type": "1", "comment": COMMENT, "offer_code": "OF1",
              "your_bank_code": "BANK1", "outlet_code": "O1", **params}
    status, body = call(site, client, **values)
    assert status == 200 and body["status"] == "success", body
    return body


def admin(site, email="ops@platform.example"):
    browser = AdminBrowser(site["base"])
    assert browser.log_in(email, "a long enough password").status == 302
    return browser


def leaderboard_csv(browser, days=366):
    today = datetime.now(timezone.utc).date()
    answer = browser.get(f"/admin/leaderboard.csv?period=custom&start={today - timedelta(days=days - 1)}&end={today}")
    assert answer.status == 200
    return answer.text


def database_bytes(site):
    """Everything the database holds on disk (SQLite: the file and its write-ahead log, as
    the server left them; PostgreSQL: a dump)."""
    url = site["url"]
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))
    return subprocess.run([_pg_bin("pg_dump"), "--data-only", url], capture_output=True, check=True).stdout


def test_customer_ids_are_pseudonyms_everywhere(site):
    for n in range(3):  # ranked: three customers
        if n == 0:
            report(site)
        else:
            report(site, user_id=f"other{n}@example.com", comment="other", user_latitude="19.0597")
    run_py(site["env"], "import-reports", "--client", site["clients"]["BANK1"]["clientkey"], str(write_csv(site)))
    browser = admin(site)
    pages = [leaderboard_csv(browser), browser.get("/admin/leaderboard").text]
    merchant = browser.get("/admin/leaderboard").text.split('href="/admin/merchants/')[1].split("?")[0]
    pages += [browser.get(f"/admin/merchants/{merchant}").text, browser.get(f"/admin/merchants/{merchant}/reports.csv").text,
              browser.get("/admin/audit").text, browser.get("/admin/audit.csv").text]
    assert "cust-" in pages[3] and COMMENT in pages[3]  # the merchant's CSV: short pseudonyms (and comments)
    for page in pages:
        assert SECRET_ID not in page and "imported.secret" not in page
    stored = database_bytes(site)
    assert SECRET_ID.encode() not in stored and b"imported.secret" not in stored
    assert SECRET_ID not in (site["tmp"] / "server.log").read_text()  # the access log redacts it


def write_csv(site):
    path = site["tmp"] / "history.csv"
    when = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text("reported_at,your_bank_code,user_id,offer_code,outlet_code,feedback_type,comment\n"
                    f"{when},BANK1,imported.secret@example.com,OF1,O1,1,from the call centre\n")
    return path


def test_retention_removes_old_positions_and_comments_and_the_leaderboard_stays(site):
    now = datetime.now(timezone.utc)
    for n in range(2):
        report(site, user_id=f"c{n}@example.com", comment="comment today")
    # Older reports come through import-reports (the API takes a week at most).
    path = site["tmp"] / "old.csv"
    rows = [f"{(now - timedelta(days=age)).strftime('%Y-%m-%dT%H:%M:%SZ')},BANK1,old{n}@example.com,OF1,O1,1,"
            f"{LATITUDE},72.8295,15,comment {age} days" for n, age in enumerate((45, 45, 45, 400, 400))]
    path.write_text("reported_at,your_bank_code,user_id,offer_code,outlet_code,feedback_type,user_latitude,"
                    "user_longitude,user_accuracy,comment\n" + "\n".join(rows) + "\n")
    run_py(site["env"], "import-reports", "--client", site["clients"]["BANK1"]["clientkey"], str(path))
    browser = admin(site)
    before = [leaderboard_csv(browser, days) for days in (30, 90, 366)]
    printed = run_py(site["env"], "apply-retention")
    assert printed.strip() == "Removed the positions of 5 reports and the comments of 2."
    assert [leaderboard_csv(browser, days) for days in (30, 90, 366)] == before
    assert run_py(site["env"], "apply-retention").strip() == "Removed the positions of 0 reports and the comments of 0."
    run_py(site["env"], "rebuild-rollups")  # a recount from what is kept gives the same figures
    assert [leaderboard_csv(browser, days) for days in (30, 90, 366)] == before
    status, body = call(site, action="customer_reports", user_id="old0@example.com")
    assert status == 200, body
    (kept,) = body["reports"]
    assert (kept["latitude"], kept["verdict"], kept["distance_m"], kept["comment"]) == (None, "at_outlet", 15,
                                                                                         "comment 45 days")
    status, body = call(site, action="customer_reports", user_id="old3@example.com")
    assert body["reports"][0]["comment"] == "" and body["reports"][0]["latitude"] is None


def test_a_customer_sees_and_erases_what_is_held_and_counts_stay(site):
    for n in range(3):
        if n == 0:
            report(site)
        else:
            report(site, user_id=f"other{n}@example.com", comment="other", user_latitude="19.0597")
    report(site, feedback_type="2", outlet_code="O2")  # a second outlet, same customer
    browser = admin(site)
    before = leaderboard_csv(browser)

    status, body = call(site, action="customer_reports", user_id=SECRET_ID)
    assert status == 200 and [r["comment"] for r in body["reports"]] == [COMMENT, COMMENT]
    assert {r["outlet_code"] for r in body["reports"]} == {"O1", "O2"} and body["reports"][0]["latitude"] == LATITUDE
    assert call(site, action="customer_reports", user_id="nobody@example.com") == (200, {"status": "success", "reports": []})
    # Another bank cannot reach them: naming BANK1 is refused, its own bank has no such customer.
    assert call(site, "BANK3", action="customer_reports", user_id=SECRET_ID, your_bank_code="BANK1")[1]["error"] == "not_allowed"
    assert call(site, "BANK3", action="erase_customer", user_id=SECRET_ID, your_bank_code="BANK1")[0] == 403
    assert call(site, "BANK3", action="customer_reports", user_id=SECRET_ID)[1]["reports"] == []
    assert call(site, "NET1", action="customer_reports", user_id=SECRET_ID)[1]["error"] == "missing_value"
    assert len(call(site, "NET1", action="customer_reports", user_id=SECRET_ID, your_bank_code="BANK1")[1]["reports"]) == 2

    old_ids = [r["feedback_id"] for r in body["reports"]]
    assert call(site, action="erase_customer", user_id=SECRET_ID) == (200, {"status": "success", "erased_reports": 2})
    assert call(site, action="erase_customer", user_id=SECRET_ID) == (200, {"status": "success", "erased_reports": 0})
    assert call(site, action="customer_reports", user_id=SECRET_ID)[1]["reports"] == []
    assert leaderboard_csv(browser) == before
    run_py(site["env"], "rebuild-rollups")
    assert leaderboard_csv(browser) == before  # the tombstones count as the customer did, a recount too
    stored = database_bytes(site)
    for gone in (SECRET_ID.encode(), COMMENT.encode(), struct.pack(">d", LATITUDE), *(i.encode() for i in old_ids)):
        assert gone not in stored  # the ids the bank was answered no longer lead to the reports
    # The customer starts afresh.
    again = report(site, comment="new")
    assert again["duplicate"] is False
    assert len(call(site, action="customer_reports", user_id=SECRET_ID)[1]["reports"]) == 1

    # The command line does the same, for other2 (whose reports it finds by the id the bank gave).
    assert json.loads(run_py(site["env"], "erase-customer", "--bank", "BANK1", "--user-id", "other2@example.com")) == {
        "status": "success", "erased_reports": 1}
    log = admin(site, "dpo@bank1.example").get("/admin/audit.csv").text
    assert log.count("customer.erased") == 3 and "customer.reports_read" in log and SECRET_ID not in log
    assert "2 reports" in log and ",cli," in log


def test_the_console_finds_and_erases_a_customer_by_the_id_typed(site):
    report(site)
    browser = admin(site, "dpo@bank1.example")
    token = browser.csrf_token("/admin/customers")
    found = browser.request("POST", "/admin/customers", {"csrf_token": token, "bank": "BANK1", "user_id": SECRET_ID})
    assert found.status == 200 and COMMENT in found.text and SECRET_ID not in found.text
    assert "cust-" in found.text and "1 reports" in found.text
    stored = found.text.split('name="erase" value="')[1].split('"')[0]
    erased = browser.request("POST", "/admin/customers", {"csrf_token": token, "bank": "BANK1", "erase": stored})
    assert "Erased 1 reports" in erased.text and COMMENT not in erased.text
    assert call(site, action="customer_reports", user_id=SECRET_ID)[1]["reports"] == []
    refused = browser.request("POST", "/admin/customers", {"csrf_token": "stale", "bank": "BANK1", "user_id": SECRET_ID})
    assert refused.status == 400 and SECRET_ID not in refused.text  # never shown back
    # A bank the admin does not see is refused (the pseudonym found at First Bank, named at Lone Bank).
    lone = browser.request("POST", "/admin/customers", {"csrf_token": token, "bank": "BANK3", "erase": stored})
    assert lone.status == 404


def test_a_host_with_another_customer_key_is_refused(site):
    other = {**site["env"], "CUSTOMER_KEY": "another key of at least thirty-two characters"}
    result = subprocess.run([sys.executable, "run.py", "migrate"], cwd=ROOT, env=other, capture_output=True, text=True)
    assert result.returncode == 1 and "is not the key this database's customers were stored with" in result.stderr


def test_erasure_and_retention_leave_a_recount_as_it_was_when_an_address_was_shared(app, catalog):
    """Two customers the same day through one IP and one device: the second's day is discounted.
    Erasing either keeps the hashes that decided it, so a recount still discounts it."""
    from backend.models import Bank, CustomerDay, MerchantDay
    from backend.privacy import apply_retention, erase_customer
    from backend.rollups import count_pending, rebuild_rollups
    from support import make_report

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for n, user in enumerate(("first@example.com", "second@example.com", "third@example.com")):
        make_report(when=now - timedelta(minutes=n), user=user, ip_hash="shared-ip" if n < 2 else "own-ip",
                    device_hash="shared-device" if n < 2 else None)
    make_report(when=now - timedelta(days=40), user="first@example.com")
    count_pending()
    counters = sorted(MerchantDay.select().tuples())
    discounted = CustomerDay.select().where(CustomerDay.discounted == True).count()  # noqa: E712
    assert discounted == 1
    for user in ("first@example.com", "second@example.com"):
        erase_customer(app.config["CUSTOMER_KEY"], Bank.get(Bank.code == "BANK1"), user)
    apply_retention(now, 30, 365)
    assert sorted(MerchantDay.select().tuples()) == counters
    rebuild_rollups()
    assert sorted(MerchantDay.select().tuples()) == counters
    assert CustomerDay.select().where(CustomerDay.discounted == True).count() == discounted  # noqa: E712
