"""Property-based tests: a real server for schemathesis, and failure reports without secrets."""
import json
import urllib.parse
import urllib.request

import pytest

from support import DATA, run_py, served, site_env

# Secret values that failure reports must not show: generated requests carry the site's
# real clientpass and apikey, and schemathesis and pytest print requests and arguments.
SECRETS = set()


def without_secrets(text):
    for secret in SECRETS:
        text = text.replace(secret, "[secret]")
    return text


def scrub(report):
    """Replace every registered secret in a failed test's report (traceback and captured output)."""
    if report.failed and SECRETS:
        report.longrepr = without_secrets(str(report.longrepr))
        report.sections = [(title, without_secrets(content)) for title, content in report.sections]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    scrub(report)


@pytest.hookimpl(trylast=True)
def pytest_exception_interact(node, call, report):
    """After schemathesis's own hook, which writes the report of its failures anew."""
    scrub(report)


@pytest.fixture(scope="module")
def fuzzed_site(tmp_path_factory):
    """The real server (gunicorn, stopped after the module) on a SQLite site with the test catalogue, a BANK1 client and
    four customers' reports at merchant M1 (enough for the leaderboard to rank it)."""
    tmp = tmp_path_factory.mktemp("fuzzed-site")
    env = site_env(tmp)
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    credentials = json.loads(run_py(env, "create-client", "--name", "Fuzzed app", "--bank", "BANK1", "--json"))
    SECRETS.update({credentials["clientpass"], credentials["apikey"]})
    log_path = tmp / "server.log"
    with served(env, log_path) as base:
        for n in range(4):
            params = {"action": "user_feedback", **{k: credentials[k] for k in ("clientkey", "clientpass", "apikey")},
                      "user_id": f"seed{n}@example.com", "feedback_type": "1", "offer_code": "OF1",
                      "your_bank_code": "BANK1", "outlet_code": "O1"}
            with urllib.request.urlopen(f"{base}/api?{urllib.parse.urlencode(params)}", timeout=10) as answer:
                assert answer.status == 200
        yield {"base": base, "log": log_path, "credentials": credentials}
