"""schemathesis against the real server: every request the OpenAPI description allows (and
many it does not) must get a documented status, a JSON answer of the documented shape, and
never a 5xx. Bounded by MAX_EXAMPLES per operation and generation mode (about a minute on
2 cores); SCHEMATHESIS_MAX_EXAMPLES=1000 for a longer run."""
import json
import os
import urllib.request
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from backend.api import OPENAPI_DOCUMENT
from backend.models import utcnow

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", 250))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]

# schemathesis's "Reproduce with" line hides parameters whose names hold these (clientpass too).
CONFIG = schemathesis.Config.from_dict({"output": {"sanitization": {
    "sensitive-markers": ["pass", "key", "secret", "token", "auth", "session", "credential"]}}})
schema = schemathesis.openapi.from_dict(json.loads(OPENAPI_DOCUMENT), config=CONFIG)
# Deterministic: the same requests on every run, so a failure in CI reproduces on a laptop.
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)

# The site's credentials, for the hooks below (set by the test before any case is generated).
SITE = {}
# Catalogue codes of tests/data/catalog.json as (bank, offer, outlet): the first four make a
# valid report for the BANK1 client; then one for another bank (403) and two that do not fit (422).
CODES = [("BANK1", "OF1", "O1"), ("BANK1", "OF1", "O2"), ("BANK1", "OF2", "O2"), ("BANK1", "OF6", "O3"),
         ("BANK2", "OF2", "O1"), ("BANK1", "OF4", "O3"), ("BANK1", "OF1", "O3")]


def with_site_values(params):
    """Mostly real credentials, catalogue codes, a plausible position and time in place of the
    generated ones: random keys are all refused at the credentials check, random codes at the
    catalogue, and the code after them would go untested."""
    if not isinstance(params, dict) or "clientkey" not in params or not SITE:
        return st.just(params)
    credentials = {name: SITE["credentials"][name] for name in ("clientkey", "clientpass", "apikey")}
    if params.get("action") == "merchant_leaderboard":
        return st.sampled_from([credentials, credentials, {}]).map(lambda chosen: {**params, **chosen})
    codes = st.tuples(st.sampled_from(CODES), st.sampled_from(["1", "2", "5", "staff_unaware"])).map(
        lambda c: dict(zip(("your_bank_code", "offer_code", "outlet_code", "feedback_type"), (*c[0], c[1]))))
    position = st.tuples(st.floats(18.9, 19.2), st.floats(72.7, 72.9), st.integers(0, 500)).map(
        lambda p: {"user_latitude": str(p[0]), "user_longitude": str(p[1]), "user_accuracy": str(p[2])})
    recent = st.integers(0, 7 * 24 * 60 - 1).map(
        lambda minutes: {"reported_at": (utcnow() - timedelta(minutes=minutes)).isoformat() + "Z"})
    # Each group real three times in four: about a third of the reports pass every check.
    groups = [st.just(credentials), codes, position, recent]
    chosen = st.tuples(*(st.one_of(group, group, group, st.just({})) for group in groups))
    return chosen.map(lambda picks: {**params, **{k: v for pick in picks for k, v in pick.items()}})


@schema.hook
def flatmap_query(context, query):
    return with_site_values(query)


@schema.hook
def flatmap_body(context, body):
    return with_site_values(body)


@pytest.fixture(scope="module", autouse=True)
def site_values(fuzzed_site):
    """The hooks draw from the site's values; hypothesis draws before the test body runs."""
    SITE["credentials"] = fuzzed_site["credentials"]
    yield
    SITE.clear()


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_api_honours_its_openapi_description(case, fuzzed_site):
    case.call_and_validate(base_url=fuzzed_site["base"], checks=CHECKS, timeout=10)


def test_the_description_is_valid_openapi_3_1():
    schema.validate()  # against the OpenAPI 3.1 meta-schema


def test_the_server_serves_this_description(fuzzed_site):
    with urllib.request.urlopen(fuzzed_site["base"] + "/api/openapi.json", timeout=10) as answer:
        assert (answer.status, answer.headers["Content-Type"]) == (200, "application/json")
        assert answer.read() == OPENAPI_DOCUMENT


def test_the_fuzzed_server_logged_no_secret_and_no_traceback(fuzzed_site):
    """Runs after the requests above (file order), on the same server's log."""
    log = fuzzed_site["log"].read_text()
    assert "/api" in log  # the access log is on: the requests above are in it
    for name in ("clientpass", "apikey"):
        assert fuzzed_site["credentials"][name] not in log, f"the {name} value reached the server log"
    assert "Traceback" not in log
