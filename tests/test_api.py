"""The /api endpoint through Flask's test client, on SQLite and on PostgreSQL."""
import json
import time

import psycopg2
import pytest

from backend import create_app
from backend.credentials import add_api_key, revoke_api_key
from backend.db import database
from backend.models import Feedback, utcnow
from support import stored_id

ERROR_KEYS = {"status", "error", "message", "fields"}


def call(client, params, method="GET"):
    if method == "GET":
        return client.get("/api", query_string=params)
    return client.post("/api", data=params)


def assert_error(response, status, code, fields=None):
    """The pinned error shape, and nothing stored."""
    body = response.get_json()
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert set(body) == ERROR_KEYS
    assert body["status"] == "error" and body["error"] == code
    assert body["message"] and "Traceback" not in body["message"]
    if fields is not None:
        assert body["fields"] == fields
    assert Feedback.select().count() == 0
    return body


# --- success -------------------------------------------------------------------------


def test_published_url_records_a_report(client, report_params, bank_client):
    response = call(client, report_params)
    body = response.get_json()
    assert response.status_code == 200
    assert list(body) == ["status", "message", "feedback_id", "duplicate", "location", "offer_status"]
    assert body["status"] == "success" and body["duplicate"] is False
    assert body["location"] == {"verdict": "at_outlet", "distance_m": 11, "radius_m": 150}
    assert body["offer_status"] == "active"
    stored = Feedback.get()
    assert stored.public_id == body["feedback_id"]
    assert (stored.user_id, stored.offer.code, stored.outlet.code, stored.bank.code) == (stored_id("asha@example.com"), "OF1",
                                                                                          "O1", "BANK1")
    assert (stored.feedback_type_id, stored.verdict, stored.comment) == (1, "at_outlet", "Cashier refused the offer")
    assert stored.merchant.code == "M1" and stored.client_id == bank_client["client"].id
    assert stored.latitude == pytest.approx(19.0597)


def test_nothing_carries_over_from_one_request_to_the_next(client, report_params):
    """Each thread re-uses one form (forms.bound_form): no value or error may stay."""
    bad = {**report_params, "comment": "x" * 1001, "user_longitude": None, "user_accuracy": "-1"}
    body = assert_error(call(client, {k: v for k, v in bad.items() if v is not None}), 400, "invalid_value")
    assert set(body["fields"]) == {"comment", "user_latitude", "user_longitude", "user_accuracy"}
    plain = {k: v for k, v in report_params.items() if k not in ("comment", "user_latitude", "user_longitude")}
    body = call(client, {**plain, "user_id": "next@example.com"}).get_json()
    assert body["status"] == "success" and body["location"]["verdict"] == "not_shared"
    stored = Feedback.get()
    assert (stored.comment, stored.latitude, stored.longitude, stored.accuracy_m) == ("", None, None, None)
    missing = call(client, {"action": "user_feedback"}).get_json()
    assert missing["error"] == "missing_value" and "user_id" in missing["fields"]


@pytest.mark.parametrize("action", ["user_feedback", "feedback"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_both_action_spellings_and_methods(client, report_params, action, method):
    response = call(client, {**report_params, "action": action}, method)
    assert response.get_json()["status"] == "success"
    assert Feedback.select().count() == 1


def test_json_body(client, report_params):
    body = {**report_params, "user_latitude": 19.0597, "user_longitude": 72.8295, "feedback_type": 2}
    response = client.post("/api", json=body)
    assert response.status_code == 200, response.get_json()
    assert Feedback.get().feedback_type_id == 2


def test_feedback_type_by_slug(client, report_params):
    assert call(client, {**report_params, "feedback_type": "staff_unaware"}).status_code == 200
    assert Feedback.get().feedback_type.slug == "staff_unaware"


def test_feedback_types_action(client, catalog):
    body = client.get("/api?action=feedback_types").get_json()
    assert body["status"] == "success"
    assert body["feedback_types"][:2] == [
        {"id": 1, "slug": "merchant_declined", "label": "Merchant declined the offer"},
        {"id": 2, "slug": "offer_expired", "label": "Told the offer has expired"},
    ]
    assert [t["slug"] for t in body["feedback_types"][2:]] == ["discount_not_applied", "staff_unaware", "other"]


@pytest.mark.parametrize(
    "overrides, verdict, distance",
    [
        ({"user_latitude": "19.0700", "user_longitude": "72.8295"}, "away_from_outlet", 1156),
        ({"user_latitude": "19.0610", "user_longitude": "72.8295", "user_accuracy": "20"}, "at_outlet", 156),
        ({"user_latitude": "19.0596", "user_longitude": "72.8295", "user_accuracy": "900"}, "inconclusive", 0),
        ({"user_latitude": "", "user_longitude": ""}, "not_shared", None),
        ({"user_latitude": None, "user_longitude": None}, "not_shared", None),
        ({"outlet_code": "O2"}, "outlet_location_unknown", None),
    ],
)
def test_location_verdicts(client, report_params, overrides, verdict, distance):
    params = {k: v for k, v in {**report_params, **overrides}.items() if v is not None}
    body = call(client, params).get_json()
    assert body["location"]["verdict"] == verdict
    assert body["location"]["distance_m"] == distance
    assert Feedback.get().verdict == verdict


def test_outlet_radius_is_used(client, catalog, report_params, network_client):
    params = {**report_params, **network_client, "your_bank_code": "BANK1", "offer_code": "OF6", "outlet_code": "O3",
              "user_latitude": "12.9372", "user_longitude": "77.6245"}
    body = call(client, params).get_json()
    assert body["location"] == {"verdict": "at_outlet", "distance_m": 222, "radius_m": 300}


@pytest.mark.parametrize("offer, status", [("OF3", "expired"), ("OF5", "not_started")])
def test_offer_status(client, report_params, offer, status):
    body = call(client, {**report_params, "offer_code": offer}).get_json()
    assert body["offer_status"] == status
    assert Feedback.get().offer_status == status


def test_duplicate_is_counted_once(client, report_params):
    first = call(client, report_params).get_json()
    again = call(client, {**report_params, "comment": "again"}).get_json()
    assert again["status"] == "success" and again["duplicate"] is True
    assert again["feedback_id"] == first["feedback_id"]
    assert Feedback.select().count() == 1
    other_type = call(client, {**report_params, "feedback_type": "2"}).get_json()
    assert other_type["duplicate"] is False
    other_user = call(client, {**report_params, "user_id": "ravi@example.com"}).get_json()
    assert other_user["duplicate"] is False
    assert Feedback.select().count() == 3


def test_network_client_reports_for_its_banks(client, report_params, network_client):
    params = {**report_params, **network_client, "offer_code": "OF2", "your_bank_code": "BANK2"}
    assert call(client, params).status_code == 200


def test_sql_and_html_are_stored_inert(client, report_params):
    evil = "<script>alert(1)</script>'; DROP TABLE feedback; --"
    response = call(client, {**report_params, "comment": evil, "user_id": evil[:60]})
    assert response.status_code == 200
    stored = Feedback.get()
    assert (stored.comment, stored.user_id) == (evil, stored_id(evil[:60]))
    assert "<script>" not in response.get_data(as_text=True)


def test_comment_may_have_newlines_and_tabs_and_1000_characters(client, report_params):
    comment = "line one\n\tline two " + "x" * 980
    assert call(client, {**report_params, "comment": comment}, "POST").status_code == 200
    assert Feedback.get().comment == comment


# --- missing values ------------------------------------------------------------------


def test_one_missing_value(client, report_params):
    del report_params["user_id"]
    body = assert_error(call(client, report_params), 400, "missing_value", ["user_id"])
    assert body["message"] == "Missing value for: user_id"


def test_all_missing_values_listed_at_once(client, report_params):
    for name in ("clientpass", "offer_code", "outlet_code"):
        del report_params[name]
    report_params["feedback_type"] = ""
    report_params["your_bank_code"] = "   "
    body = assert_error(call(client, report_params), 400, "missing_value")
    assert body["message"] == "Missing value for: clientpass, feedback_type, offer_code, your_bank_code, outlet_code"
    assert body["fields"] == ["clientpass", "feedback_type", "offer_code", "your_bank_code", "outlet_code"]


def test_missing_action(client, catalog):
    body = assert_error(client.get("/api"), 400, "missing_value", ["action"])
    assert body["message"] == "Missing value for: action"


# --- invalid values ------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, fields",
    [
        ({"user_latitude": "north"}, ["user_latitude"]),
        ({"user_latitude": "91"}, ["user_latitude"]),
        ({"user_longitude": "-180.5"}, ["user_longitude"]),
        ({"user_latitude": "NaN"}, ["user_latitude"]),
        ({"user_longitude": "Infinity"}, ["user_longitude"]),
        ({"user_latitude": "-inf"}, ["user_latitude"]),
        ({"user_longitude": ""}, ["user_latitude", "user_longitude"]),
        ({"user_accuracy": "-5"}, ["user_accuracy"]),
        ({"comment": "y" * 1001}, ["comment"]),
        ({"comment": "bell\x07"}, ["comment"]),
        ({"user_id": "asha\x00@example.com"}, ["user_id"]),
        ({"offer_code": "OF1\x1b[2J"}, ["offer_code"]),
        ({"user_id": "a" * 255}, ["user_id"]),
    ],
)
def test_invalid_values(client, report_params, overrides, fields):
    body = assert_error(call(client, {**report_params, **overrides}), 400, "invalid_value", fields)
    assert body["message"].startswith(f"Invalid value for {fields[0]}: ")


def test_comment_length_message(client, report_params):
    body = assert_error(call(client, {**report_params, "comment": "y" * 1001}), 400, "invalid_value")
    assert body["message"] == "Invalid value for comment: must be at most 1000 characters."


def test_non_utf8_query_bytes(client, report_params):
    query = "&".join(f"{k}={v}" for k, v in report_params.items() if k != "comment") + "&comment=caf%E9"
    assert_error(client.get("/api?" + query.replace(" ", "+")), 400, "invalid_value", ["comment"])


def test_non_utf8_form_body(client, report_params):
    body = "&".join(f"{k}={v}" for k, v in report_params.items() if k != "user_id").replace(" ", "+").encode()
    body += b"&user_id=\xff\xfe@example.com"
    response = client.post("/api", data=body, content_type="application/x-www-form-urlencoded")
    assert_error(response, 400, "invalid_value", ["user_id"])


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe{}", b'{"user_id": {"a": 1}}'])
def test_bad_json_bodies(client, catalog, raw):
    response = client.post("/api?action=user_feedback", data=raw, content_type="application/json")
    assert_error(response, 400, "invalid_value")


# --- catalogue codes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, fields",
    [
        ({"offer_code": "NOPE"}, ["offer_code"]),
        ({"offer_code": "' OR 1=1 --"}, ["offer_code"]),
        ({"outlet_code": "NOPE"}, ["outlet_code"]),
        ({"your_bank_code": "NOPE"}, ["your_bank_code"]),
        ({"feedback_type": "99"}, ["feedback_type"]),
        ({"feedback_type": "9" * 40}, ["feedback_type"]),
        ({"feedback_type": "rude_staff"}, ["feedback_type"]),
        ({"outlet_code": "O3"}, ["outlet_code", "offer_code"]),
        ({"offer_code": "OF4"}, ["offer_code", "your_bank_code"]),
    ],
)
def test_unknown_or_mismatched_codes(client, report_params, overrides, fields):
    assert_error(call(client, {**report_params, **overrides}), 422, "unknown_code", fields)


# --- credentials and permissions -----------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [{"clientkey": "ck_unknown"}, {"clientpass": "wrong"}, {"apikey": "wrong"}],
    ids=["unknown-key", "wrong-pass", "wrong-apikey"],
)
def test_invalid_credentials_answer_alike(client, report_params, overrides):
    body = assert_error(call(client, {**report_params, **overrides}), 401, "invalid_credentials")
    assert body["fields"] == ["clientkey", "clientpass", "apikey"]
    assert body["message"] == "The clientkey, clientpass and apikey do not match an active API key."


def test_key_rotation_and_revocation(client, report_params, bank_client):
    new_key, _ = add_api_key(bank_client["client"], utcnow())
    assert call(client, {**report_params, "apikey": new_key}).status_code == 200
    assert revoke_api_key(bank_client["client"], bank_client["apikey_id"], utcnow())
    Feedback.delete().execute()
    assert_error(call(client, report_params), 401, "invalid_credentials")
    assert call(client, {**report_params, "apikey": new_key, "user_id": "other@example.com"}).status_code == 200


def test_bank_client_cannot_report_for_another_bank(client, report_params):
    params = {**report_params, "offer_code": "OF2", "your_bank_code": "BANK2"}
    assert_error(call(client, params), 403, "not_allowed", ["your_bank_code"])


def test_network_client_cannot_report_for_bank_off_network(client, report_params, network_client):
    params = {**report_params, **network_client, "offer_code": "OF4", "your_bank_code": "BANK3", "outlet_code": "O3"}
    assert_error(call(client, params), 403, "not_allowed", ["your_bank_code"])


# --- protocol errors -----------------------------------------------------------------


def test_unknown_action(client, catalog):
    body = assert_error(client.get("/api?action=delete_everything"), 400, "unknown_action", ["action"])
    assert "user_feedback" in body["message"]


def test_huge_body(client, report_params):
    response = client.post("/api", data={**report_params, "comment": "z" * 100_000})
    assert_error(response, 413, "payload_too_large")


def test_huge_query_string(client, report_params):
    assert_error(call(client, {**report_params, "padding": "z" * 20_000}), 413, "payload_too_large")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods(client, catalog, method):
    response = client.open("/api?action=user_feedback", method=method)
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]


def test_unknown_api_path_is_json(client, catalog):
    assert_error(client.get("/api/v2/feedback"), 404, "not_found")


def test_server_error_hides_internals(client, report_params, app):
    from backend.db import database

    database.execute_sql('DROP TABLE feedback')
    response = call(client, report_params)
    body = response.get_json()
    assert response.status_code == 500
    assert body == {"status": "error", "error": "server_error",
                    "message": "The server could not answer; try again later.", "fields": []}
    assert "feedback" not in json.dumps(body).lower().replace("offers feedback", "")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite keeps no server connection
def test_the_database_connection_is_opened_again_after_it_was_lost(client, report_params, database_url):
    """A PostgreSQL restart (or an administrator, or a proxy dropping idle connections) cuts
    each worker's kept connection: the next request opens a new one before using it."""
    assert call(client, report_params).status_code == 200
    with psycopg2.connect(database_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE pid <> pg_backend_pid() AND datname = current_database()")
        conn.commit()
        while cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                             "AND datname = current_database()") or cursor.fetchone()[0]:
            conn.commit()  # a new snapshot of the server's activity
            time.sleep(0.01)  # until the cut connection's server process has gone
    first = call(client, {**report_params, "user_id": "first@example.com"})
    assert first.status_code == 200, first.get_json()
    assert Feedback.select().where(Feedback.user_id == stored_id("first@example.com")).count() == 1


# Hardening (issue 10): answers that were 500s, or acted when they should not.

def test_lone_surrogates_and_deep_nesting_in_json_are_invalid_values(client, report_params):
    for body in ('{"action": "user_feedback", "clientkey": "x\\ud800"}', '{"user_id": "\\udfff", "action": "feedback"}',
                 "[" * 4000 + "]" * 4000, '{"\\ud800": "x"}'):
        answer = client.post("/api", data=body, content_type="application/json")
        assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_value", body[:30]


def test_only_get_and_post_act(client, report_params):
    from backend.models import Feedback

    head = client.head("/api", query_string=report_params)
    assert (head.status_code, head.headers["Allow"]) == (405, "GET, POST")
    options = client.options("/api")
    assert options.status_code == 405 and options.get_json()["error"] == "method_not_allowed"
    assert not Feedback.select().exists()


@pytest.mark.parametrize("prepared", [True, False])
def test_the_same_answers_with_prepared_statements_or_without(database_url, bank_client, report_params, prepared):
    """PG_PREPARED_STATEMENTS (docs/operations.md): on PostgreSQL each connection prepares the
    statements a report runs once, or (0, behind a pooler in transaction mode) not at all."""
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "CREDENTIAL_CACHE_SECONDS": 0,
                      "CATALOG_CACHE_SECONDS": 0, "PG_PREPARED_STATEMENTS": prepared})
    client = app.test_client()
    first, again = (call(client, report_params).get_json() for _ in range(2))
    assert first["status"] == "success" and not first["duplicate"]
    assert again["duplicate"] and again["feedback_id"] == first["feedback_id"]
    assert call(client, {**report_params, "user_id": "next@example.com"}).get_json()["duplicate"] is False
    assert Feedback.select().count() == 2
    if database_url.startswith("postgresql"):
        names = {name for (name,) in database.execute_sql("SELECT name FROM pg_prepared_statements")}
        assert names == ({"customer_reports", "insert_report"} if prepared else set())


def test_a_column_retyped_under_a_prepared_statement_loses_no_report(database_url, client, report_params):
    """A migration run by another host may change a column a prepared statement reads: that
    connection prepares its statements anew and stores the report on a second try."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite prepares nothing across requests")
    assert call(client, report_params).get_json()["status"] == "success"
    with psycopg2.connect(database_url) as other, other.cursor() as cursor:
        cursor.execute('ALTER TABLE "feedback" ALTER COLUMN "radius_m" TYPE bigint')
    for user in ("second@example.com", "third@example.com"):
        assert call(client, {**report_params, "user_id": user}).get_json()["status"] == "success"
    assert sorted(user for (user,) in Feedback.select(Feedback.user_id).tuples()) == sorted(
        stored_id(user) for user in ("asha@example.com", "second@example.com", "third@example.com"))


# --- action=offers --------------------------------------------------------------------


def offers(client, credentials, method="GET", **params):
    keys = {k: credentials[k] for k in ("clientkey", "clientpass", "apikey")}
    return call(client, {"action": "offers", **keys, **params}, method)


def listed(response):
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "success", body
    return {offer["offer_code"]: offer for offer in body["offers"]}


def test_a_bank_client_lists_its_banks_and_its_networks_offers_with_their_outlets(client, bank_client):
    found = listed(offers(client, bank_client))
    assert list(found) == ["OF1", "OF2", "OF3", "OF5", "OF6"]  # not OF4, Lone Bank's
    assert found["OF1"] == {
        "offer_code": "OF1", "title": "10% off at Cafe Aroma", "merchant_code": "M1", "merchant_name": "Cafe Aroma",
        "valid_from": "2020-01-01", "valid_to": "2099-12-31", "status": "active", "bank_code": "BANK1",
        "network_code": None,
        "outlets": [{"outlet_code": "O1", "name": "Cafe Aroma, Bandra", "address": "12 Hill Road", "city": "Mumbai",
                     "latitude": 19.0596, "longitude": 72.8295, "radius_m": 150},
                    {"outlet_code": "O2", "name": "Cafe Aroma, kiosk", "address": None, "city": "Mumbai",
                     "latitude": None, "longitude": None, "radius_m": 150}]}
    assert (found["OF2"]["bank_code"], found["OF2"]["network_code"]) == (None, "NET1")
    assert [found[code]["status"] for code in ("OF3", "OF5")] == ["expired", "not_started"]
    assert [o["radius_m"] for o in found["OF6"]["outlets"]] == [300]  # the catalogue's own geofence
    assert listed(offers(client, bank_client, your_bank_code="BANK1")) == found  # its own bank: the same


def test_a_bank_without_a_network_lists_only_its_own_offers(client, catalog):
    from backend.credentials import create_client
    from backend.models import Bank

    issued = create_client("Lone Bank app", utcnow(), bank=Bank.get(Bank.code == "BANK3"))
    credentials = {"clientkey": issued.client.clientkey, "clientpass": issued.clientpass, "apikey": issued.apikey}
    assert list(listed(offers(client, credentials))) == ["OF4"]


def test_a_network_client_lists_its_banks_offers_or_one_banks(client, network_client):
    everything = listed(offers(client, network_client))
    assert list(everything) == ["OF1", "OF2", "OF3", "OF5", "OF6"]  # BANK1's and NET1's; BANK3 is off the network
    assert list(listed(offers(client, network_client, your_bank_code="BANK2"))) == ["OF2"]
    assert listed(offers(client, network_client, "POST", your_bank_code="BANK1")) == everything
    as_json = client.post("/api", json={"action": "offers", "your_bank_code": "BANK2",
                                        **{k: network_client[k] for k in ("clientkey", "clientpass", "apikey")}})
    assert list(listed(as_json)) == ["OF2"]


@pytest.mark.parametrize("who, bank, status, code", [
    ("bank", "BANK2", 403, "not_allowed"),  # another bank on its network
    ("network", "BANK3", 403, "not_allowed"),  # a bank off the network
    ("network", "NOPE", 422, "unknown_code"),
])
def test_offers_of_a_bank_the_client_does_not_serve_are_refused(client, bank_client, network_client, who, bank, status,
                                                                 code):
    credentials = bank_client if who == "bank" else network_client
    assert_error(offers(client, credentials, your_bank_code=bank), status, code, ["your_bank_code"])


def test_offers_refuse_wrong_missing_or_malformed_input(client, bank_client):
    body = assert_error(offers(client, {**bank_client, "clientpass": "wrong"}), 401, "invalid_credentials")
    assert body["fields"] == ["clientkey", "clientpass", "apikey"]
    assert_error(client.get("/api?action=offers"), 400, "missing_value", ["clientkey", "clientpass", "apikey"])
    assert_error(offers(client, bank_client, your_bank_code="B" * 65), 400, "invalid_value", ["your_bank_code"])
    assert_error(offers(client, bank_client, your_bank_code="BANK1\x00"), 400, "invalid_value", ["your_bank_code"])
    refused = client.post("/api", json={"action": "offers", "your_bank_code": 1,
                                        **{k: bank_client[k] for k in ("clientkey", "clientpass", "apikey")}})
    assert_error(refused, 400, "invalid_value", ["your_bank_code"])


def test_offers_take_two_catalogue_queries_not_one_per_offer(client, bank_client, shops, monkeypatch):
    """One query for the offers and one for their outlets, not one per offer."""
    statements = []
    execute_sql = database.obj.execute_sql

    def counted(sql, *args, **kwargs):
        statements.append(sql)
        return execute_sql(sql, *args, **kwargs)

    monkeypatch.setattr(database.obj, "execute_sql", counted)
    found = listed(offers(client, bank_client))
    assert len(found) == 10 and all(offer["outlets"] for offer in found.values())
    catalogue = [sql for sql in statements if 'FROM "offer"' in sql or 'FROM "outlet"' in sql]
    assert len(catalogue) == 2, catalogue
