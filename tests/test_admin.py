"""Admin pages through Flask's test client: login, scoping, filters, exports, security headers."""
import csv
import io
from datetime import timedelta

import pytest

from backend import accounts
from backend.accounts import authenticate, session_admin, set_disabled, start_session
from backend.admin import spreadsheet_safe
from backend.db import database
from backend.models import AdminSession, AdminUser, Merchant, create_tables, utcnow
from support import PASSWORD, as_made_before_migrations, csrf_token, log_in, make_report

def merchant_id(code):
    return Merchant.get(Merchant.code == code).id


@pytest.mark.parametrize("url", ["/admin/", "/admin/leaderboard", "/admin/leaderboard.csv", "/admin/merchants/1",
                                 "/admin/merchants/1/reports.csv"])
def test_pages_need_a_login_and_come_back_after_it(client, admins, url):
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login?next=")
    answer = log_in(client, "ops@platform.example", next_url=url)
    assert answer.status_code == 302 and answer.headers["Location"] == url


def test_login_form_is_labelled(client, admins):
    html = client.get("/admin/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in html and '<label for="password">Password</label>' in html
    assert '<button type="submit" class="primary">Log in</button>' in html


def test_next_never_leaves_the_site(client, admins):
    assert log_in(client, "ops@platform.example", next_url="https://evil.example/").headers["Location"] == "/admin/leaderboard"


def test_wrong_password_and_lockout(client, admins):
    for _ in range(5):
        answer = log_in(client, "first@bank1.example", "wrong password")
        assert answer.status_code == 400 and "Wrong e-mail or password" in answer.get_data(as_text=True)
    assert log_in(client, "first@bank1.example").status_code == 400  # locked, even with the right one
    assert AdminUser.get(AdminUser.email == "first@bank1.example").locked_until > utcnow()


def test_csrf_is_enforced_on_every_post(client, admins):
    answer = client.post("/admin/login", data={"email": "ops@platform.example", "password": PASSWORD})
    assert answer.status_code == 400 and "expired" in answer.get_data(as_text=True)
    log_in(client, "ops@platform.example")
    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/leaderboard").status_code == 200
    token = csrf_token(client, "/admin/leaderboard")
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/leaderboard").status_code == 302


def test_passwords_are_slow_hashes(admins):
    stored = AdminUser.get(AdminUser.email == "ops@platform.example").password_hash
    assert stored.startswith(("scrypt:", "pbkdf2:")) and PASSWORD not in stored


def test_session_cookie_and_frame_headers(client, admins):
    answer = log_in(client, "ops@platform.example")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/admin/leaderboard")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"] and page.headers["X-Frame-Options"] == "DENY"


def test_platform_sees_every_merchant_ranked(client, admins, reports):
    log_in(client, "ops@platform.example")
    html = client.get("/admin/leaderboard").get_data(as_text=True)
    assert "Cafe Aroma" in html and "Urban Threads" in html and "How this is ranked" in html


def test_a_bank_admin_sees_only_its_bank(client, admins, reports):
    log_in(client, "first@bank1.example")
    html = client.get("/admin/leaderboard").get_data(as_text=True)
    assert "Cafe Aroma" in html and "Urban Threads" not in html
    assert client.get(f"/admin/merchants/{merchant_id('M2')}").status_code == 404
    assert client.get(f"/admin/merchants/{merchant_id('M2')}/reports.csv").status_code == 404
    # Parameters cannot widen the scope: another bank's code is not a valid choice.
    answer = client.get("/admin/leaderboard?bank=BANK3")
    assert answer.status_code == 400 and "Urban Threads" not in answer.get_data(as_text=True)
    exported = client.get("/admin/leaderboard.csv?scope=all").get_data(as_text=True)
    assert "Cafe Aroma" in exported and "Urban Threads" not in exported
    merchant_csv = client.get(f"/admin/merchants/{merchant_id('M1')}/reports.csv").get_data(as_text=True)
    assert "BANK1" in merchant_csv and "BANK3" not in merchant_csv


def test_a_network_admin_sees_its_banks_only(client, admins, reports):
    log_in(client, "net@net1.example")
    html = client.get("/admin/leaderboard").get_data(as_text=True)
    assert "Cafe Aroma" in html and "Urban Threads" not in html
    assert 'value="BANK1"' in html and 'value="BANK3"' not in html


def test_unknown_merchant_is_a_404_page(client, admins, reports):
    log_in(client, "ops@platform.example")
    answer = client.get("/admin/merchants/999999")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 404 and "<h1>Page not found</h1>" in html and "ops@platform.example" in html


@pytest.mark.parametrize("query", ["period=999", "period=custom", "period=custom&start=2026-05-01&end=2026-04-01",
                                   "feedback_type=99", "city=Atlantis", "start=not-a-date&period=custom"])
def test_invalid_filters_get_a_message_not_a_500(client, admins, reports, query):
    log_in(client, "ops@platform.example")
    answer = client.get(f"/admin/leaderboard?{query}")
    assert answer.status_code == 400 and 'class="error" role="alert"' in answer.get_data(as_text=True)


def test_filters_and_htmx_fragment(client, admins, reports):
    log_in(client, "ops@platform.example")
    fragment = client.get("/admin/leaderboard?city=Bengaluru", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert not fragment.lstrip().startswith("<!doctype") and "Urban Threads" in fragment and "Cafe Aroma" not in fragment
    restore = client.get("/admin/leaderboard?city=Bengaluru", headers={"HX-Request": "true", "HX-Request-Type": "full"})
    assert restore.get_data(as_text=True).startswith("<!doctype html>")


def test_merchant_page_escapes_comments_and_masks_customers(client, admins, reports):
    log_in(client, "ops@platform.example")
    html = client.get(f"/admin/merchants/{merchant_id('M1')}").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert(0)&lt;/script&gt;" in html
    assert "cust-" in html and "customer0@bank1.example" not in html
    assert "Cafe Aroma, Bandra" in html and "10% off at Cafe Aroma" in html
    assert "<svg class=\"chart\"" in html and "Reports per week" in html


def test_leaderboard_csv(client, admins, reports):
    log_in(client, "ops@platform.example")
    answer = client.get("/admin/leaderboard.csv?period=7")
    assert answer.mimetype == "text/csv" and "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    assert {row["merchant_name"] for row in rows} == {"Cafe Aroma", "Urban Threads"}
    assert all(row["reports"] == "3" and row["flag"] == "" for row in rows)  # neither stands out


def test_merchant_csv_quotes_formulas(client, admins, catalog):
    make_report(user="x@bank1.example", when=utcnow(), comment="=HYPERLINK(\"http://evil\")")
    log_in(client, "ops@platform.example")
    exported = client.get(f"/admin/merchants/{merchant_id('M1')}/reports.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in exported


def test_csv_cells_read_right_in_a_spreadsheet(client, admins, catalog):
    """Empty cells empty, numbers (negative ones too) numbers, only formula-like text
    quoted (tab and CR starts too), UTF-8 with a byte order mark for Hindi comments."""
    assert [spreadsheet_safe(v) for v in ("", "-0.188", "+3", "12", 7, "-x", "@SUM(A1)", "\tx", "\rx", "plain")] == [
        "", "-0.188", "+3", "12", 7, "'-x", "'@SUM(A1)", "'\tx", "'\rx", "plain"]
    make_report(user="x@bank1.example", when=utcnow(), comment="ऑफ़र नहीं दिया", position=None)
    log_in(client, "ops@platform.example")
    body = client.get(f"/admin/merchants/{merchant_id('M1')}/reports.csv").get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM
    [row] = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert row["comment"] == "ऑफ़र नहीं दिया" and row["distance_m"] == "" and row["created_at_utc"]


def test_api_leaderboard_is_scoped_to_the_client(client, reports, bank_client, network_client):
    def ask(credentials, **params):
        keys = {k: credentials[k] for k in ("clientkey", "clientpass", "apikey")}
        return client.get("/api", query_string={"action": "merchant_leaderboard", **keys, **params})

    body = ask(bank_client).get_json()
    assert body["status"] == "success" and [m["merchant_name"] for m in body["merchants"]] == ["Cafe Aroma"]
    assert set(body["merchants"][0]) >= {"rank", "merchant_code", "merchant_name", "reports", "distinct_customers",
                                         "verified_share", "flag"}
    assert [m["merchant_code"] for m in ask(network_client).get_json()["merchants"]] == ["M1"]
    assert ask(bank_client, feedback_type="offer_expired").get_json()["merchants"] == []
    bad = ask(bank_client, **{"from": "2026-13-01", "to": "2026-01-01"})
    assert bad.status_code == 400 and bad.get_json()["fields"] == ["to"]
    assert ask(bank_client, period="365").get_json()["error"] == "invalid_value"
    assert ask({**bank_client, "apikey": "nope"}).status_code == 401


def test_merchant_page_lists_expired_claims_that_do_not_count(client, admins, catalog):
    for n in range(2):  # OF3 ended in 2020: "told it expired" was true
        make_report(user=f"c{n}@bank1.example", when=utcnow() - timedelta(hours=n), offer="OF3", type_id=2)
    log_in(client, "first@bank1.example")
    html = client.get(f"/admin/merchants/{merchant_id('M1')}").get_data(as_text=True)
    assert "Of these, 2 said the offer had expired when it in fact had" in html
    assert "Cafe Aroma" not in client.get("/admin/leaderboard").get_data(as_text=True).split("Low volume")[0]


@pytest.mark.parametrize("target", ["//[", "/%0D%0AX:1", "/admin/%00"])
def test_login_with_a_malformed_next_goes_to_the_leaderboard(client, admins, target):
    answer = log_in(client, "ops@platform.example", next_url=target)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/admin/leaderboard")


def test_out_of_range_ids_and_dates_are_answers_not_500s(client, admins, reports):
    log_in(client, "ops@platform.example")
    assert client.get("/admin/merchants/9223372036854775808").status_code == 404
    assert client.get("/admin/merchants/9223372036854775808/reports.csv").status_code == 404
    far = client.get("/admin/leaderboard?period=custom&start=9999-12-31&end=9999-12-31")
    assert far.status_code == 400 and "before the year 3000" in far.get_data(as_text=True)


def test_csv_file_names_are_made_of_safe_characters(client, admins, catalog):
    from backend.models import Merchant

    evil = 'EVIL.html"; x="'
    Merchant.update(code=evil).where(Merchant.code == "M1").execute()
    make_report(user="x@bank1.example", when=utcnow())
    log_in(client, "ops@platform.example")
    answer = client.get(f"/admin/merchants/{merchant_id(evil)}/reports.csv")
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="EVIL.html___x__-reports-')


def test_every_login_attempt_checks_one_password_hash(admins, monkeypatch):
    """Unknown, wrong, locked, disabled or right: each takes one hash check's time."""
    checked = []
    real_check = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda stored, given: checked.append(1) or real_check(stored, given))
    now = utcnow()
    for _ in range(5):
        authenticate("first@bank1.example", "wrong password", now)
    set_disabled("net@net1.example", True, now)
    for email, password, accepted in [("nobody@example.com", PASSWORD, False), ("ops@platform.example", "wrong", False),
                                      ("first@bank1.example", PASSWORD, False), ("net@net1.example", PASSWORD, False),
                                      ("OPS@platform.example", PASSWORD, True)]:
        checked.clear()
        assert (authenticate(email, password, now) is not None, len(checked)) == (accepted, 1)


def test_a_lock_out_passes_and_counting_starts_again(admins):
    now = utcnow()
    for _ in range(5):
        authenticate("first@bank1.example", "wrong password", now)
    assert authenticate("first@bank1.example", PASSWORD, now + timedelta(minutes=14)) is None
    later = now + timedelta(minutes=16)
    authenticate("first@bank1.example", "wrong password", later)
    admin = AdminUser.get(AdminUser.email == "first@bank1.example")
    assert (admin.failed_logins, admin.locked_until) == (1, None)
    assert authenticate("first@bank1.example", PASSWORD, later) is not None


def test_sessions_end_when_idle_or_old_and_are_marked_at_most_once_a_minute(admins):
    admin = AdminUser.get(AdminUser.email == "ops@platform.example")
    idle, lifetime = timedelta(minutes=30), timedelta(hours=8)
    start = utcnow()
    token = start_session(admin, start)

    def last_seen():
        return AdminSession.get(AdminSession.admin == admin).last_seen_at

    at = start + timedelta(minutes=29)
    assert session_admin(token, at, idle, lifetime) == admin and last_seen() == at
    assert session_admin(token, at + timedelta(seconds=59), idle, lifetime) == admin and last_seen() == at
    for minutes in range(50, 8 * 60, 20):  # active all day
        assert session_admin(token, start + timedelta(minutes=minutes), idle, lifetime) == admin
    assert session_admin(token, start + lifetime + timedelta(seconds=1), idle, lifetime) is None
    assert not AdminSession.select().exists()  # ended is deleted
    second = start_session(admin, start)
    assert session_admin(second, start + timedelta(minutes=30, seconds=1), idle, lifetime) is None
    assert session_admin("not a token", start, idle, lifetime) is None


def test_an_existing_database_gains_the_session_table_and_the_disabled_column(admins):
    database.execute_sql("DROP TABLE adminsession")
    database.execute_sql("ALTER TABLE adminuser DROP COLUMN disabled_at")
    as_made_before_migrations()
    create_tables()
    assert "disabled_at" in {column.name for column in database.get_columns("adminuser")}
    admin = authenticate("ops@platform.example", PASSWORD, utcnow())  # the older rows work as before
    assert admin.disabled_at is None and session_admin(start_session(admin, utcnow()), utcnow(), timedelta(minutes=30),
                                                       timedelta(hours=8)) == admin


def test_the_home_page_leads_to_the_admin_login_and_the_api_description(client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/admin/login"' in page and 'href="/api/openapi.json"' in page


def test_the_customers_column_says_what_it_counts_under_filters(client, admins, reports):
    log_in(client, "ops@platform.example")
    assert "of any problem, city and evidence" not in client.get("/admin/leaderboard").get_data(as_text=True)
    assert "of any problem, city and evidence" in client.get("/admin/leaderboard?feedback_type=1").get_data(as_text=True)
