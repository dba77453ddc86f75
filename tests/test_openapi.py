"""backend/openapi.json and the code must agree: actions, parameters (required-ness, lengths,
ranges), error codes with their statuses, verdicts, and every key of every success answer."""
import inspect
import json
from datetime import timedelta
from pathlib import Path

from wtforms.validators import Length

from backend.api import ACTIONS, ERROR_STATUS, OPENAPI_DOCUMENT
from backend.forms import CustomerForm, LeaderboardForm, OffersForm, UserFeedbackForm
from backend.geo import VERDICTS
from backend.models import utcnow
from support import make_report

SPEC = json.loads(OPENAPI_DOCUMENT)
SCHEMAS = SPEC["components"]["schemas"]
API_DOC = (Path(__file__).parent.parent / "docs" / "api.md").read_text()


def resolved(schema):
    """The schema a $ref points at (within this document), or the schema itself."""
    while "$ref" in schema:
        node = SPEC
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def operations():
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def test_is_openapi_3_1_and_linked_from_the_docs():
    assert SPEC["openapi"].startswith("3.1.")
    assert "/api/openapi.json" in API_DOC


# Answered by the HTTP server before the app sees the request (backend/server.py protocol_error).
SERVER_STATUSES = {414: "payload_too_large"}


def test_every_error_code_has_its_status():
    documented = {}
    for _path, _method, operation in operations():
        for status, response in operation["responses"].items():
            schema = resolved(resolved(response)["content"]["application/json"]["schema"])
            for part in schema.get("allOf", []):
                for code in part.get("properties", {}).get("error", {}).get("enum", []):
                    if SERVER_STATUSES.get(int(status)) != code:
                        assert documented.setdefault(code, int(status)) == int(status), code
    assert documented == ERROR_STATUS
    assert set(SCHEMAS["Error"]["properties"]["error"]["enum"]) == set(ERROR_STATUS)


def test_error_examples_match_their_status():
    for name, response in SPEC["components"]["responses"].items():
        for example in response["content"]["application/json"].get("examples", {}).values():
            value = example["value"]
            if value["status"] == "error":
                status = next(int(s) for _p, _m, op in operations() for s, r in op["responses"].items()
                              if r.get("$ref", "").endswith("/" + name))
                if status in SERVER_STATUSES:
                    assert value["error"] == SERVER_STATUSES[status], (name, value)
                else:
                    assert ERROR_STATUS[value["error"]] == status, (name, value)
                assert_keys_match(value, SCHEMAS["Error"])


def test_every_action_is_described():
    described = set()
    for option in SCHEMAS["Request"]["oneOf"]:
        action = resolved(option)["properties"]["action"]
        described |= set(action.get("enum", [action.get("const")]))
    assert described == set(ACTIONS)


def required_fields(form):
    return {field.name for field in form if any(getattr(v, "__name__", "") == "required" for v in field.validators)}


def max_lengths(form):
    return {field.name: v.max for field in form for v in field.validators if isinstance(v, Length)}


def ranges(form):
    """{field: (low, high)} of the fields checked by forms.between(low, high)."""
    found = {}
    for field in form:
        for validator in field.validators:
            names = inspect.getclosurevars(validator).nonlocals if inspect.isfunction(validator) else {}
            if {"low", "high"} <= set(names):
                found[field.name] = (names["low"], names["high"])
    return found


def check_request_schema(schema, form):
    properties = schema["properties"]
    assert set(properties) == {"action"} | {field.name for field in form}
    assert set(schema["required"]) == {"action"} | required_fields(form)
    lengths = {name: p["maxLength"] for name, p in properties.items() if "maxLength" in p and name != "action"}
    assert lengths == max_lengths(form)
    bounds = {name: (p["minimum"], p["maximum"]) for name, p in properties.items() if "minimum" in p}
    assert bounds == ranges(form)
    for name in required_fields(form):
        assert properties[name].get("minLength", 0) >= 1 or "enum" in properties[name], name


def test_user_feedback_parameters_match_the_form():
    check_request_schema(SCHEMAS["UserFeedbackRequest"], UserFeedbackForm())


def test_leaderboard_parameters_match_the_form():
    check_request_schema(SCHEMAS["LeaderboardRequest"], LeaderboardForm())


def test_offers_parameters_match_the_form():
    check_request_schema(SCHEMAS["OffersRequest"], OffersForm())


def test_customer_request_parameters_match_the_form():
    for name, action in (("CustomerReportsRequest", "customer_reports"), ("EraseCustomerRequest", "erase_customer")):
        assert SCHEMAS[name]["properties"]["action"]["const"] == action
        check_request_schema(SCHEMAS[name], CustomerForm())


def test_every_verdict_is_described():
    location = SCHEMAS["FeedbackRecorded"]["properties"]["location"]["properties"]
    assert location["verdict"]["enum"] == list(VERDICTS)


def assert_keys_match(value, schema, where="answer"):
    """Every key of value is a property of schema and every required one is there, all the way down."""
    schema = resolved(schema)
    if "oneOf" in schema:  # the branch whose required keys are all there
        branches = [resolved(s) for s in schema["oneOf"]]
        fitting = [s for s in branches if isinstance(value, dict) and set(s.get("required", [])) <= set(value)]
        assert len(fitting) == 1, f"{where}: {sorted(value)} fits {len(fitting)} of the answers described"
        schema = fitting[0]
    if isinstance(value, dict) and "properties" in schema:
        assert set(value) <= set(schema["properties"]), f"{where}: undescribed {set(value) - set(schema['properties'])}"
        assert set(schema.get("required", [])) <= set(value), f"{where}: missing {set(schema['required']) - set(value)}"
        for key, item in value.items():
            assert_keys_match(item, schema["properties"][key], f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            assert_keys_match(item, schema["items"], f"{where}[]")


def test_success_answers_have_exactly_the_described_keys(client, report_params):
    success = SCHEMAS["Success"]
    recorded = client.get("/api", query_string=report_params).get_json()
    assert recorded["status"] == "success"
    assert_keys_match(recorded, success)
    assert_keys_match(client.get("/api?action=feedback_types").get_json(), success)
    for n in range(4):  # four customers at M1 this morning: the leaderboard ranks it
        make_report(when=utcnow() - timedelta(hours=1), user=f"key{n}@example.com")
    credentials = {k: report_params[k] for k in ("clientkey", "clientpass", "apikey")}
    board = client.get("/api", query_string={"action": "merchant_leaderboard", **credentials}).get_json()
    assert board["merchants"], board
    assert_keys_match(board, success)
    offers = client.get("/api", query_string={"action": "offers", **credentials}).get_json()
    assert any(offer["outlets"] and offer["network_code"] for offer in offers["offers"]), offers
    assert_keys_match(offers, success)
    make_report(when=utcnow() - timedelta(hours=2), user="key0@example.com", outlet=None, position=None)
    customer = {**credentials, "user_id": "key0@example.com"}
    reports = client.get("/api", query_string={"action": "customer_reports", **customer}).get_json()
    assert {report["outlet_code"] is None for report in reports["reports"]} == {True, False}, reports
    assert_keys_match(reports, success)
    erased = client.get("/api", query_string={"action": "erase_customer", **customer}).get_json()
    assert erased["erased_reports"] == len(reports["reports"]), erased
    assert_keys_match(erased, success)


def test_described_answer_examples_have_the_described_keys():
    for example in SPEC["components"]["responses"]["Success"]["content"]["application/json"]["examples"].values():
        assert_keys_match(example["value"], SCHEMAS["Success"])
