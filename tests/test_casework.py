"""The action loop's admin pages through Flask's test client, on both databases: cases from
the leaderboard to their effect, webhooks and e-mail alerts, the audit log, and no route
that lets an admin reach another audience's cases or webhooks."""
import csv
import io
import re
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from backend.alerts import create_webhook
from backend.cases import open_case
from backend.models import AdminUser, AuditEntry, Case, EmailSubscription, Merchant, Webhook, utcnow
from support import csrf_token, log_in


def bank1_case():
    return open_case(f"bank:{AdminUser.get(AdminUser.email == 'first@bank1.example').bank_id}",
                     Merchant.get(Merchant.code == "M1"), None, utcnow())


def post(client, target, page, **form):
    """A form posted from page (its CSRF token)."""
    return client.post(target, data={"csrf_token": csrf_token(client, page), **form})


@pytest.mark.parametrize("url", ["/admin/cases", "/admin/cases/1", "/admin/webhooks", "/admin/webhooks/1",
                                 "/admin/alerts", "/admin/audit", "/admin/audit.csv"])
def test_action_pages_need_a_login(client, admins, url):
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login?next=")


def test_an_admin_opens_a_case_from_the_leaderboard_acts_and_resolves_it(client, admins, reports, bank_client, app):
    log_in(client, "first@bank1.example")
    board = client.get("/admin/leaderboard").get_data(as_text=True)
    assert "Open case" in board
    m1 = Merchant.get(Merchant.code == "M1").id
    opened = post(client, "/admin/cases", "/admin/leaderboard", merchant_id=str(m1))
    assert opened.status_code == 302
    case_url = opened.headers["Location"]
    page = client.get(case_url).get_data(as_text=True)
    assert "Cafe Aroma" in page and "Effect" in page and "first action due by" in page
    assert Case.get().due_at - Case.get().opened_at == timedelta(days=app.config["CASE_DUE_DAYS"]) == timedelta(days=15)
    assert post(client, "/admin/cases", "/admin/leaderboard", merchant_id=str(m1)).headers["Location"] == case_url
    acted = post(client, case_url + "/actions", case_url, kind="staff_training", note="Trained the <b>till</b> staff")
    assert acted.status_code == 302
    page = client.get(case_url).get_data(as_text=True)
    assert "in progress" in page and "Trained the &lt;b&gt;till&lt;/b&gt; staff" in page
    assert "Staff training on" in page  # its effect, in words
    merchant_page = client.get(f"/admin/merchants/{m1}").get_data(as_text=True)
    assert "Staff training on" in merchant_page and 'class="mark"' in merchant_page  # there too, marked on its chart
    assert post(client, case_url + "/actions", case_url, kind="bribe", note="").status_code == 400
    owner = AdminUser.get(AdminUser.email == "first@bank1.example")
    assert post(client, case_url + "/owner", case_url, owner=str(owner.id)).status_code == 302
    assert Case.get().owner_id == owner.id
    assert post(client, case_url + "/resolve", case_url, note="Fixed").status_code == 302
    assert Case.get().state == "resolved"
    board = client.get("/admin/leaderboard").get_data(as_text=True)
    assert ">resolved<" in board
    assert "Cafe Aroma" not in client.get("/admin/leaderboard?no_case=y").get_data(as_text=True)
    exported = list(csv.DictReader(io.StringIO(client.get("/admin/leaderboard.csv").get_data().decode("utf-8-sig"))))
    assert [(row["merchant_code"], row["case"]) for row in exported] == [("M1", "resolved")]
    # The bank's API client reads the case state too.
    answer = client.get("/api", query_string={"action": "merchant_leaderboard", **{
        k: bank_client[k] for k in ("clientkey", "clientpass", "apikey")}}).get_json()
    assert [(m["merchant_code"], m["case"]) for m in answer["merchants"]] == [("M1", "resolved")]


def test_no_admin_reaches_another_audience_s_case_or_webhook(client, admins, reports, app):
    case = bank1_case()
    bank1 = case.scope
    webhook, _ = create_webhook(bank1, "http://127.0.0.1:9/hook", [], utcnow())
    bank1_admin = AdminUser.get(AdminUser.email == "first@bank1.example")
    for email in ("lone@bank3.example", "net@net1.example", "ops@platform.example"):
        log_in(client, email)
        token = csrf_token(client, "/admin/cases")
        for method, url, form in (("get", f"/admin/cases/{case.id}", {}),
                                  ("post", f"/admin/cases/{case.id}/actions", {"kind": "note", "note": "x"}),
                                  ("post", f"/admin/cases/{case.id}/resolve", {"note": ""}),
                                  ("post", f"/admin/cases/{case.id}/owner", {"owner": str(bank1_admin.id)}),
                                  ("get", f"/admin/webhooks/{webhook.id}", {}),
                                  ("post", f"/admin/webhooks/{webhook.id}/disable", {}),
                                  ("get", f"/admin/cases/{2**63}", {})):
            response = getattr(client, method)(url, data={"csrf_token": token, **form} if method == "post" else None)
            assert response.status_code == 404, (email, url)
        assert "Cafe Aroma" not in client.get("/admin/cases").get_data(as_text=True)
        assert "127.0.0.1:9" not in client.get("/admin/webhooks").get_data(as_text=True)
        client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/cases")})
    assert Case.get_by_id(case.id).state == "open" and Webhook.get_by_id(webhook.id).disabled_at is None
    # Its own admin cannot hand the case to an admin of another audience.
    log_in(client, "first@bank1.example")
    other = AdminUser.get(AdminUser.email == "lone@bank3.example")
    case_url = f"/admin/cases/{case.id}"
    assert post(client, case_url + "/owner", case_url, owner=str(other.id)).status_code == 400
    assert Case.get_by_id(case.id).owner_id is None


def test_webhooks_are_made_with_a_secret_shown_once_and_disabled(client, admins, app):
    log_in(client, "first@bank1.example")
    refused = post(client, "/admin/webhooks", "/admin/webhooks", url="http://127.0.0.1:9/hook")
    assert refused.status_code == 400 and "private network" in refused.get_data(as_text=True)
    app.config["WEBHOOK_PRIVATE_NETWORKS"] = True
    made = post(client, "/admin/webhooks", "/admin/webhooks", url="http://127.0.0.1:9/hook", events="case.opened")
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", made.get_data(as_text=True)).group(0)
    assert secret == Webhook.get().secret and Webhook.get().events == "case.opened"
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert "whsec_" not in listing and "http://127.0.0.1:9/hook" in listing
    assert post(client, f"/admin/webhooks/{Webhook.get().id}/disable", "/admin/webhooks").status_code == 302
    assert Webhook.get().disabled_at is not None
    assert "Nothing delivered yet" in client.get(f"/admin/webhooks/{Webhook.get().id}").get_data(as_text=True)


def test_an_admin_subscribes_to_its_audience_s_alerts(client, admins):
    log_in(client, "first@bank1.example")
    assert post(client, "/admin/alerts", "/admin/alerts", subscribed="y", digest="y", events="case.opened").status_code == 200
    subscription = EmailSubscription.get()
    assert (subscription.admin.email, subscription.digest, subscription.events) == ("first@bank1.example", True,
                                                                                    "case.opened")
    post(client, "/admin/alerts", "/admin/alerts")
    assert EmailSubscription.select().count() == 0


def test_the_audit_log_records_admin_actions_each_audience_its_own(client, admins, reports):
    client.post("/admin/login", data={"email": "first@bank1.example", "password": "wrong", "csrf_token": csrf_token(client)})
    log_in(client, "first@bank1.example")
    m1 = Merchant.get(Merchant.code == "M1").id
    case_url = post(client, "/admin/cases", "/admin/leaderboard", merchant_id=str(m1)).headers["Location"]
    post(client, case_url + "/actions", case_url, kind="note", note="called")
    client.get("/admin/leaderboard.csv")
    rows = list(csv.reader(io.StringIO(client.get("/admin/audit.csv").get_data().decode("utf-8-sig"))))
    assert rows[0] == ["at_utc", "admin", "scope", "action", "detail"]
    assert [row[3] for row in rows[1:]][::-1] == ["login.failed", "login", "case.opened", "case.action",
                                                  "export.leaderboard_csv"]
    assert all(row[1] == "first@bank1.example" for row in rows[1:])
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/cases")})
    log_in(client, "lone@bank3.example")
    assert "first@bank1.example" not in client.get("/admin/audit").get_data(as_text=True)
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/cases")})
    log_in(client, "ops@platform.example")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "first@bank1.example" in page and "lone@bank3.example" in page
    assert AuditEntry.select().where(AuditEntry.action == "logout").count() == 2
    assert AuditEntry.select().where(AuditEntry.at < utcnow() - timedelta(minutes=5)).count() == 0


def test_bad_case_and_webhook_input_gets_a_message_not_a_500(client, admins, reports):
    log_in(client, "first@bank1.example")
    for merchant in ("-99999999999999999999999", "0", "abc", "99999999999999999999999"):
        assert post(client, "/admin/cases", "/admin/leaderboard", merchant_id=merchant).status_code in (400, 404)
    case_url = post(client, "/admin/cases", "/admin/leaderboard",
                    merchant_id=str(Merchant.get(Merchant.code == "M1").id)).headers["Location"]
    for target, form in (("/actions", {"kind": "note", "note": "a\x00b"}), ("/resolve", {"note": "a\x00b"})):
        answer = post(client, case_url + target, case_url, **form)
        assert answer.status_code == 400 and "control characters" in answer.get_data(as_text=True)
    for url in ("http://example.com:99999/", "http://h:abc/", "http://u:p@example.com/"):
        answer = post(client, "/admin/webhooks", "/admin/webhooks", url=url)
        assert answer.status_code == 400 and Webhook.select().count() == 0


def test_failed_logins_are_audited_for_known_accounts_only_and_at_most_until_the_lock_out(client, admins):
    for _ in range(8):
        client.post("/admin/login", data={"email": "first@bank1.example", "password": "wrong",
                                          "csrf_token": csrf_token(client)})
        client.post("/admin/login", data={"email": "nobody@example.com", "password": "wrong",
                                          "csrf_token": csrf_token(client)})
    assert [(e.email, e.action) for e in AuditEntry.select()] == [("first@bank1.example", "login.failed")] * 5


def test_times_are_shown_in_the_configured_zone_and_named(client, admins, reports, app):
    log_in(client, "first@bank1.example")
    case = bank1_case()
    opened = case.opened_at.replace(tzinfo=timezone.utc).astimezone(ZoneInfo("Asia/Kolkata"))
    page = client.get(f"/admin/cases/{case.id}").get_data(as_text=True)
    assert f"{opened.day} {opened:%b %Y, %H:%M} IST" in page
    app.config["TIME_ZONE"] = "UTC"
    assert f"{case.opened_at.day} {case.opened_at:%b %Y, %H:%M} UTC" in client.get(f"/admin/cases/{case.id}").get_data(
        as_text=True)


def test_an_unknown_time_zone_is_a_clear_setting_error(monkeypatch):
    from backend.config import SettingsError, settings

    monkeypatch.setenv("TIME_ZONE", "Mars/Olympus")
    with pytest.raises(SettingsError, match="TIME_ZONE must be a time zone"):
        settings()


def test_the_first_action_s_due_date_is_a_setting(client, admins, reports, app):
    app.config["CASE_DUE_DAYS"] = 3
    log_in(client, "ops@platform.example")
    post(client, "/admin/cases", "/admin/leaderboard", merchant_id=str(Merchant.get(Merchant.code == "M2").id))
    assert Case.get().due_at - Case.get().opened_at == timedelta(days=3)
