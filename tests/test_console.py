"""The self-service console (issue 13): API clients and keys, the widget's origins and
secret, admin users with roles, and one-time password links; every admin route for every
role. Flask's test client on both databases; the browser journey is in tests/browser/."""
import re
import time
from datetime import timedelta

import pytest

from backend.accounts import create_admin, find_admin, new_password_link
from backend.alerts import create_webhook
from backend.cases import open_case
from backend.credentials import create_client, signature_matches, user_signature
from backend.models import AdminSession, ApiKey, AuditEntry, Bank, Client, Merchant, Network, PasswordLink, utcnow
from support import CSRF_FIELD, PASSWORD, csrf_token, log_in, run_py

SECRET_ROW = re.compile(r'<input id="([a-z-]+)" class="secret" value="([^"]+)"')


def shown_secrets(page):
    return dict(SECRET_ROW.findall(page))


def post(client, url, data=None, token_from="/admin/account"):
    return client.post(url, data={"csrf_token": csrf_token(client, token_from), **(data or {})})


def api(client, params, **extra):
    return client.get("/api", query_string={"action": "merchant_leaderboard", **params, **extra})


@pytest.fixture
def bank_admin(client, admins):
    log_in(client, "first@bank1.example")
    return client


def test_a_bank_admin_creates_a_client_whose_secrets_are_shown_once_and_work(bank_admin, app):
    page = post(bank_admin, "/admin/clients", {"name": "First Bank web"}).get_data(as_text=True)
    secrets = shown_secrets(page)
    assert set(secrets) == {"clientkey", "clientpass", "apikey", "widget-secret"}
    made = Client.get(Client.clientkey == secrets["clientkey"])
    assert made.bank.code == "BANK1" and made.network is None  # the admin's own bank, whatever the form says
    params = {name: secrets[name] for name in ("clientkey", "clientpass", "apikey")}
    assert api(app.test_client(), params).status_code == 200
    assert made.widget_secret == secrets["widget-secret"]

    later = bank_admin.get(f"/admin/clients/{made.id}").get_data(as_text=True)
    assert secrets["clientpass"] not in later and secrets["apikey"] not in later and secrets["widget-secret"] not in later
    assert made.clientkey in bank_admin.get("/admin/clients").get_data(as_text=True)
    logged = " ".join(e.detail for e in AuditEntry.select().where(AuditEntry.action == "client.created"))
    assert made.clientkey in logged and not any(secret in logged for secret in secrets.values() if secret != made.clientkey)


def test_a_key_rotates_without_downtime_and_its_last_use_shows(bank_admin, bank_client, app):
    client_id = bank_client["client"].id
    old = {name: bank_client[name] for name in ("clientkey", "clientpass", "apikey")}
    assert "never" in bank_admin.get(f"/admin/clients/{client_id}").get_data(as_text=True)
    assert api(app.test_client(), old).status_code == 200
    used = ApiKey.get(ApiKey.key_id == bank_client["apikey_id"]).last_used_at
    assert used is not None and used <= utcnow() and used.second == 0

    new_key = shown_secrets(post(bank_admin, f"/admin/clients/{client_id}/keys").get_data(as_text=True))["new-apikey"]
    new = {**old, "apikey": new_key}
    assert api(app.test_client(), new).status_code == 200 and api(app.test_client(), old).status_code == 200  # both, meanwhile
    assert post(bank_admin, f"/admin/clients/{client_id}/keys/{bank_client['apikey_id']}/revoke").status_code == 302
    assert api(app.test_client(), old).status_code == 401 and api(app.test_client(), new).status_code == 200
    page = bank_admin.get(f"/admin/clients/{client_id}").get_data(as_text=True)
    assert "revoked" in page and new_key not in page

    # The last active key cannot go: the bank's servers would be locked out.
    last = ApiKey.get(ApiKey.client == client_id, ApiKey.revoked_at.is_null()).key_id
    refused = post(bank_admin, f"/admin/clients/{client_id}/keys/{last}/revoke")
    assert refused.status_code == 400 and "Add a new key" in refused.get_data(as_text=True)
    assert api(app.test_client(), new).status_code == 200
    assert post(bank_admin, f"/admin/clients/{client_id}/keys/ak_nosuchkey/revoke").status_code == 404


def test_origins_are_added_and_removed_one_at_a_time_and_checked(bank_admin, bank_client):
    client_id = bank_client["client"].id
    url = f"/admin/clients/{client_id}"
    assert post(bank_admin, url + "/origins", {"origin": "https://www.FirstBank.example/offers?x=1"}).status_code == 302
    assert post(bank_admin, url + "/origins", {"origin": "https://m.firstbank.example:8443"}).status_code == 302
    assert Client.get_by_id(client_id).allowed_origins() == ["https://www.firstbank.example",
                                                             "https://m.firstbank.example:8443"]
    for bad in ("javascript:alert(1)", "www.firstbank.example", "ftp://x.example", "https://a\x00b.example",
                "https://bank.example *", "https://bank.example;sandbox", "https://*.bank.example", "'unsafe-inline'",
                "https://%62ank.example", "https://u:p@bank.example", "https://bank.example:0", "https://a\u00a0b.example"):
        refused = post(bank_admin, url + "/origins", {"origin": bad})
        assert refused.status_code == 400 and "Origin:" in refused.get_data(as_text=True)
    assert post(bank_admin, url + "/origins/remove", {"origin": "https://www.firstbank.example"}).status_code == 302
    assert Client.get_by_id(client_id).allowed_origins() == ["https://m.firstbank.example:8443"]
    assert post(bank_admin, url + "/origins/remove", {"origin": "https://never.example"}).status_code == 404

    allowed = bank_admin.get(url + "/origin-check", query_string={"url": "https://m.firstbank.example:8443/cards"})
    assert "Allowed" in allowed.get_data(as_text=True)
    refused = bank_admin.get(url + "/origin-check", query_string={"url": "https://evil.example/"},
                             headers={"HX-Request": "true"}).get_data(as_text=True)
    assert refused.startswith('<p id="origin-answer" class="error"') and "Not allowed" in refused
    assert "not an http(s) page" in bank_admin.get(url + "/origin-check?url=nonsense").get_data(as_text=True)
    entries = [e.action for e in AuditEntry.select().order_by(AuditEntry.id)]
    assert entries.count("widget.origin_added") == 2 and entries.count("widget.origin_removed") == 1


def test_the_snippet_names_what_the_key_needs_and_the_widget_secret_rotates(client, admins, bank_client, network_client):
    log_in(client, "net@net1.example")
    network = Client.get(Client.clientkey == network_client["clientkey"])
    page = client.get(f"/admin/clients/{network.id}").get_data(as_text=True)
    assert f'data-key=&#34;{network.widget_key}&#34;' in page and "data-bank=&#34;BANK1&#34;" in page
    assert "data-offer=&#34;OF2&#34;" in page  # the network's own offer
    old = network.widget_secret
    rotated = shown_secrets(post(client, f"/admin/clients/{network.id}/widget-secret").get_data(as_text=True))
    new = Client.get_by_id(network.id).widget_secret
    assert rotated == {"new-widget-secret": new} and new != old
    assert not signature_matches(new, "asha", user_signature(old, "asha"))
    # The network's admin does not manage its member banks' clients: those are the banks'.
    assert client.get(f"/admin/clients/{bank_client['client'].id}").status_code == 404
    assert bank_client["clientkey"] not in client.get("/admin/clients").get_data(as_text=True)


def test_a_bank_reaches_no_other_audience_s_clients_or_admins(client, admins, catalog):
    lone = create_client("Lone web", utcnow(), bank=Bank.get(Bank.code == "BANK3")).client
    log_in(client, "first@bank1.example")
    other = find_admin("lone@bank3.example")
    for url in (f"/admin/clients/{lone.id}", f"/admin/clients/{lone.id}/origin-check?url=https://x.example",
                f"/admin/clients/{2**63}"):
        assert client.get(url).status_code == 404
    for url in (f"/admin/clients/{lone.id}/keys", f"/admin/clients/{lone.id}/widget-secret",
                f"/admin/users/{other.id}/disable", f"/admin/users/{other.id}/role", f"/admin/users/{other.id}/reset"):
        assert post(client, url, {"role": "viewer"}).status_code == 404
    users = client.get("/admin/users").get_data(as_text=True)
    assert "first@bank1.example" in users and "lone@bank3.example" not in users and "ops@platform.example" not in users
    assert find_admin("lone@bank3.example").disabled_at is None and ApiKey.select().where(ApiKey.client == lone).count() == 1


def test_an_invited_admin_sets_a_password_once_and_works_in_its_role(bank_admin, app):
    page = post(bank_admin, "/admin/users", {"email": "New.Analyst@Bank1.example", "role": "analyst",
                                             "scope": "platform"}).get_data(as_text=True)
    link = shown_secrets(page)["invite-link"]
    invited = find_admin("new.analyst@bank1.example")
    assert invited.role == "analyst" and invited.bank.code == "BANK1"  # its inviter's bank, not the form's scope
    assert "invited" in bank_admin.get("/admin/users").get_data(as_text=True)
    assert log_in(app.test_client(), "new.analyst@bank1.example", "").status_code == 400  # no password yet

    newcomer = app.test_client()
    path = link.split("localhost", 1)[1]
    form = newcomer.get(path)
    assert form.status_code == 200 and "Welcome" in form.get_data(as_text=True)
    token = path.split("token=")[1]
    mismatch = newcomer.post("/admin/password", data={"csrf_token": CSRF_FIELD.search(form.get_data(as_text=True)).group(1),
                                                       "token": token, "password": "a brand new secret", "repeat": "other"})
    assert mismatch.status_code == 400 and "differ" in mismatch.get_data(as_text=True)
    done = newcomer.post("/admin/password", data={"csrf_token": csrf_token(newcomer, path), "token": token,
                                                   "password": "a brand new secret", "repeat": "a brand new secret"})
    assert done.status_code == 200 and "Your password is set" in done.get_data(as_text=True)
    assert newcomer.get(path).status_code == 404  # once only
    assert log_in(newcomer, "new.analyst@bank1.example", "a brand new secret").status_code == 302
    assert newcomer.get("/admin/cases").status_code == 200 and newcomer.get("/admin/users").status_code == 403
    assert "That e-mail already has an account" in post(bank_admin, "/admin/users", {
        "email": "new.analyst@bank1.example", "role": "admin"}).get_data(as_text=True)
    assert find_admin("new.analyst@bank1.example").role == "analyst"


def test_roles_change_and_disabling_ends_sessions_but_never_one_s_own(bank_admin, app):
    create_admin("viewer@bank1.example", PASSWORD, "bank:BANK1", utcnow(), role="viewer")
    viewer = find_admin("viewer@bank1.example")
    browser = app.test_client()
    log_in(browser, "viewer@bank1.example")
    assert browser.get("/admin/clients").status_code == 403
    assert post(bank_admin, f"/admin/users/{viewer.id}/role", {"role": "admin"}).status_code == 302
    assert browser.get("/admin/clients").status_code == 200  # at once, in the open session
    assert post(bank_admin, f"/admin/users/{viewer.id}/role", {"role": "owner"}).status_code == 400
    link = new_password_link(viewer, "reset", utcnow())
    assert post(bank_admin, f"/admin/users/{viewer.id}/disable", {"disabled": "1"}).status_code == 302
    assert AdminSession.select().where(AdminSession.admin == viewer.id).count() == 0
    assert browser.get("/admin/leaderboard").status_code == 302
    assert post(bank_admin, f"/admin/users/{viewer.id}/disable", {"disabled": "1"}).status_code == 302  # stays disabled
    assert post(bank_admin, f"/admin/users/{viewer.id}/disable").status_code == 400  # says which
    assert post(bank_admin, f"/admin/users/{viewer.id}/disable", {"disabled": "0"}).status_code == 302
    assert find_admin("viewer@bank1.example").disabled_at is None
    assert app.test_client().get(f"/admin/password?token={link}").status_code == 404  # disabling ended it
    me = find_admin("first@bank1.example")
    for action in ("role", "disable", "reset"):
        assert post(bank_admin, f"/admin/users/{me.id}/{action}", {"role": "viewer"}).status_code == 403
    assert find_admin("first@bank1.example").role == "admin" and find_admin("first@bank1.example").disabled_at is None
    assert [e.action for e in AuditEntry.select().where(AuditEntry.action.startswith("admin."))
            .order_by(AuditEntry.id)] == ["admin.role_changed", "admin.disabled", "admin.disabled", "admin.enabled"]


def test_platform_admins_make_bank_and_network_admins(client, admins):
    log_in(client, "ops@platform.example")
    post(client, "/admin/users", {"email": "boss@bank3.example", "role": "admin", "scope": "bank:BANK3"})
    post(client, "/admin/users", {"email": "boss@net1.example", "role": "viewer", "scope": "network:NET1"})
    assert post(client, "/admin/users", {"email": "x@y.example", "role": "admin", "scope": "bank:NOPE"}).status_code == 400
    assert find_admin("boss@bank3.example").bank.code == "BANK3" and find_admin("boss@net1.example").network.code == "NET1"
    assert find_admin("x@y.example") is None
    page = client.get("/admin/users").get_data(as_text=True)
    assert "lone@bank3.example" in page and "Lone Bank" in page
    made = post(client, "/admin/clients", {"name": "Network switch", "owner": "network:NET1"}).get_data(as_text=True)
    assert Client.get(Client.clientkey == shown_secrets(made)["clientkey"]).network.code == "NET1"


def test_links_expire_end_each_other_and_disabled_accounts_get_none(app, admins):
    admin = find_admin("first@bank1.example")
    now = utcnow()
    first = new_password_link(admin, "reset", now)
    second = new_password_link(admin, "reset", now)
    browser = app.test_client()
    assert browser.get(f"/admin/password?token={first}").status_code == 404  # a newer link ended it
    assert browser.get(f"/admin/password?token={second}").status_code == 200
    PasswordLink.update(expires_at=now - timedelta(seconds=1)).execute()
    assert browser.get(f"/admin/password?token={second}").status_code == 404
    assert browser.get("/admin/password?token=").status_code == 404 and browser.get("/admin/password").status_code == 404
    assert browser.post("/admin/password", data={"token": second, "password": "x" * 12, "repeat": "x" * 12}).status_code == 404
    assert log_in(browser, "first@bank1.example").status_code == 302  # the old password still works


def test_origins_in_any_script_and_at_most_twenty(bank_admin, bank_client):
    url = f"/admin/clients/{bank_client['client'].id}/origins"
    assert post(bank_admin, url, {"origin": "https://Пример.рф/offers"}).status_code == 302
    assert post(bank_admin, url, {"origin": "https://[::1]:8443"}).status_code == 302
    for n in range(18):
        assert post(bank_admin, url, {"origin": f"https://o{n}.example"}).status_code == 302
    assert Client.get_by_id(bank_client["client"].id).allowed_origins()[:2] == ["https://xn--e1afmkfd.xn--p1ai",
                                                                              "https://[::1]:8443"]
    refused = post(bank_admin, url, {"origin": "https://one-too-many.example"})
    assert refused.status_code == 400 and "at most 20" in refused.get_data(as_text=True)


def test_a_platform_admin_s_change_to_a_bank_shows_in_the_bank_s_log(client, admins, bank_client):
    log_in(client, "ops@platform.example")
    post(client, f"/admin/clients/{bank_client['client'].id}/widget-secret")
    bank = Bank.get(Bank.code == "BANK1")
    assert [(e.scope, e.email) for e in AuditEntry.select().where(AuditEntry.action == "widget.secret_rotated")
            .order_by(AuditEntry.scope)] == [("all", "ops@platform.example"), (f"bank:{bank.id}", "ops@platform.example")]


def test_an_invitation_goes_to_one_plain_address(bank_admin):
    for bad in ("a@x.example, ops@platform.example", "Boss <boss@bank1.example>", "no-at-sign", "a@b"):
        assert post(bank_admin, "/admin/users", {"email": bad, "role": "viewer"}).status_code == 400
    assert post(bank_admin, "/admin/users", {"email": "  spaced@bank1.example ", "role": "viewer"}).status_code == 200
    assert find_admin("spaced@bank1.example") is not None


def test_links_are_e_mailed_only_to_the_public_url_never_the_host_asked(app, admins, smtp):
    inbox, url = smtp
    app.config["SMTP_URL"] = url  # without PUBLIC_URL: nothing is e-mailed, whatever Host says
    anonymous = app.test_client()
    page = anonymous.post("/admin/forgot", data={"email": "ops@platform.example",
                                                 "csrf_token": csrf_token(anonymous, "/admin/login")},
                          headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "Ask an admin" in page and PasswordLink.select().count() == 0 and inbox.messages == []
    app.config["PUBLIC_URL"] = "https://feedback.example"
    form = anonymous.get("/admin/forgot", headers={"Host": "evil.example"}).get_data(as_text=True)
    answer = anonymous.post("/admin/forgot", headers={"Host": "evil.example"}, data={
        "email": "ops@platform.example", "csrf_token": CSRF_FIELD.search(form).group(1)})
    assert "If that address has an account" in answer.get_data(as_text=True)
    wait_for(lambda: inbox.messages)
    text = inbox.messages[0][1].get_body(("plain",)).get_content()
    assert "https://feedback.example/admin/password?token=" in text and "evil" not in text


def wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within 10 s"
        time.sleep(0.02)


def test_with_smtp_reset_links_go_by_e_mail_only(app, admins, smtp):
    inbox, url = smtp
    app.config["SMTP_URL"], app.config["PUBLIC_URL"] = url, "https://feedback.example"
    bank_admin = app.test_client()
    log_in(bank_admin, "first@bank1.example")
    create_admin("second@bank1.example", PASSWORD, "bank:BANK1", utcnow())
    other = find_admin("second@bank1.example")
    page = post(bank_admin, f"/admin/users/{other.id}/reset").get_data(as_text=True)
    assert "We e-mailed them a link" in page and "token=" not in page
    (to, message), = inbox.messages
    assert to == ["second@bank1.example"]
    link = re.search(r"https://feedback\.example(/admin/password\?token=\S+)", message.get_body(("plain",)).get_content()).group(1)
    assert app.test_client().get(link).status_code == 200

    # Forgotten passwords: the same answer for any address; a live link is not replaced.
    anonymous = app.test_client()
    for email in ("lone@bank3.example", "nobody@nowhere.example", "lone@bank3.example", "second@bank1.example"):
        answer = anonymous.post("/admin/forgot", data={"email": email, "csrf_token": csrf_token(anonymous, "/admin/forgot")})
        assert answer.status_code == 200 and "If that address has an account" in answer.get_data(as_text=True)
    wait_for(lambda: len(inbox.messages) == 2)
    time.sleep(0.2)
    assert [to for to, _ in inbox.messages] == [["second@bank1.example"], ["lone@bank3.example"]]
    assert app.test_client().get(link).status_code == 200  # the admin's link to second@ still works


def test_the_cli_prints_a_reset_link_and_admins_get_a_role(tmp_path, database_url, admins):
    import os

    env = {**os.environ, "DATABASE_URL": database_url, "OFFERS_FEEDBACK_DATA": str(tmp_path),
           "PUBLIC_URL": "https://feedback.example"}
    printed = run_py(env, "reset-link", "--email", "FIRST@bank1.example")
    assert re.fullmatch(r"https://feedback\.example/admin/password\?token=[\w-]{43}\s*", printed)
    assert PasswordLink.select().count() == 1
    run_py(env, "create-admin", "--email", "read@bank1.example", "--password", PASSWORD, "--scope", "bank:BANK1",
           "--role", "viewer")
    assert find_admin("read@bank1.example").role == "viewer"


# Every admin route, for every role: the least role each needs (None: no login).
LEAST_ROLE = {
    "admin.login": None, "admin.logout": None, "console.set_password": None, "console.forgot": None,
    "admin.home": "viewer", "admin.leaderboard": "viewer", "admin.leaderboard_csv": "viewer",
    "admin.merchant": "viewer", "admin.merchant_csv": "viewer", "casework.cases": "viewer",
    "casework.case": "viewer", "casework.alerts": "viewer", "console.account": "viewer",
    "casework.open_case_view": "analyst", "casework.case_action": "analyst", "casework.case_resolve": "analyst",
    "casework.case_owner": "analyst",
    "casework.webhooks": "admin", "casework.webhook": "admin", "casework.webhook_disable": "admin",
    "casework.audit_log": "admin", "casework.audit_csv": "admin",
    "console.clients": "admin", "console.client_page": "admin", "console.add_key": "admin",
    "console.revoke_key": "admin", "console.add_origin": "admin", "console.remove_origin": "admin",
    "console.rotate_widget_secret": "admin", "console.origin_check": "admin", "console.users": "admin",
    "console.user_role": "admin", "console.user_disable": "admin", "console.user_reset": "admin",
    "console.customers": "analyst",
}
ROLES = ("viewer", "analyst", "admin")


@pytest.mark.parametrize("role", ROLES)
def test_no_route_lets_a_role_do_more_than_it_may(app, admins, reports, bank_client, role):
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")]
    assert {rule.endpoint for rule in rules} == set(LEAST_ROLE)  # a new route must say who may use it
    create_admin(f"{role}@bank1.example", PASSWORD, "bank:BANK1", utcnow(), role=role)
    target = create_admin("target@bank1.example", PASSWORD, "bank:BANK1", utcnow(), role="viewer")
    merchant = Merchant.get(Merchant.code == "M1")
    case = open_case("bank:" + str(Bank.get(Bank.code == "BANK1").id), merchant, None, utcnow(), "")
    webhook, _ = create_webhook("bank:" + str(Bank.get(Bank.code == "BANK1").id), "https://hooks.example/x", [], utcnow())
    values = {"merchant_id": merchant.id, "case_id": case.id, "webhook_id": webhook.id,
              "client_id": bank_client["client"].id, "key_id": bank_client["apikey_id"], "user_id": target.id}
    browser = app.test_client()
    log_in(browser, f"{role}@bank1.example")
    token = csrf_token(browser, "/admin/account")
    for rule in rules:
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", str(values[name])).replace(f"<{name}>", str(values[name]))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answer = browser.open(url, method=method, data={"csrf_token": token, "origin": "https://x.example",
                                                           "role": "viewer", "kind": "note", "note": "n",
                                                           "merchant_id": merchant.id, "url": "https://x.example"})
            least = LEAST_ROLE[rule.endpoint]
            if least is not None and ROLES.index(role) < ROLES.index(least):
                assert answer.status_code == 403, (role, method, url)
            else:
                assert answer.status_code < 500 and answer.status_code != 403, (role, method, url, answer.status_code)
            if rule.endpoint == "admin.logout" and method == "POST":
                log_in(browser, f"{role}@bank1.example")
                token = csrf_token(browser, "/admin/account")


def test_pages_offer_only_what_the_role_may_do(client, admins, reports):
    create_admin("viewer@bank1.example", PASSWORD, "bank:BANK1", utcnow(), role="viewer")
    log_in(client, "viewer@bank1.example")
    board = client.get("/admin/leaderboard").get_data(as_text=True)
    assert "Open case" not in board and "/admin/users" not in board and "/admin/clients" not in board
    assert "viewer" in client.get("/admin/account").get_data(as_text=True)


def test_the_network_scope_and_platform_scope_see_their_own(client, admins, catalog):
    Network.get(Network.code == "NET1")
    log_in(client, "net@net1.example")
    page = client.get("/admin/users").get_data(as_text=True)
    assert "net@net1.example" in page and "first@bank1.example" not in page
