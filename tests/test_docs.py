"""docs/api.md and the code must agree on actions, parameters, error codes and verdicts."""
import re
from pathlib import Path

from backend.api import ACTIONS, ERROR_STATUS
from backend.forms import CustomerForm, LeaderboardForm, OffersForm, UserFeedbackForm
from backend.geo import VERDICTS
from backend.models import DEFAULT_FEEDBACK_TYPES

API_DOC = (Path(__file__).parent.parent / "docs" / "api.md").read_text()
CUSTOMER_PARAMETERS = "### Parameters of `customer_reports` and `erase_customer`"


def table_rows(heading):
    """The cells of the first table under a heading, the header row left out."""
    section = API_DOC.split(f"\n{heading}\n", 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]


def test_every_action_is_documented():
    assert {row[0] for row in table_rows("## Actions")} == set(ACTIONS)


def test_every_parameter_is_documented():
    documented = {row[0] for row in table_rows("## Parameters of `user_feedback`")}
    assert documented == {"action"} | {field.name for field in UserFeedbackForm()}


def test_required_parameters_match():
    documented = {row[0] for row in table_rows("## Parameters of `user_feedback`") if row[1] == "yes"}
    form = UserFeedbackForm()
    required = {field.name for field in form if any(v.__name__ == "required" for v in field.validators
                                                    if hasattr(v, "__name__"))}
    assert documented == {"action"} | required


def test_every_error_code_and_status_is_documented():
    assert {row[0]: int(row[1]) for row in table_rows("## Errors")} == ERROR_STATUS


def test_every_verdict_is_documented():
    assert [row[0] for row in table_rows("### Location verdicts")] == list(VERDICTS)


def test_feedback_types_are_documented():
    assert [(int(r[0]), r[1], r[2]) for r in table_rows("### Feedback types")] == DEFAULT_FEEDBACK_TYPES


def test_examples_use_only_documented_parameters():
    documented = {row[0] for row in table_rows("## Parameters of `user_feedback`")}
    documented |= {row[0] for row in table_rows("### Parameters of `merchant_leaderboard`")}
    documented |= {row[0] for row in table_rows("### Parameters of `offers`")}
    documented |= {row[0] for row in table_rows(CUSTOMER_PARAMETERS)}
    used = set(re.findall(r"[?&]([a-z_]+)=", API_DOC)) | set(re.findall(r"--data-urlencode ([a-z_]+)=", API_DOC))
    assert used <= documented


def test_leaderboard_parameters_are_documented():
    documented = {row[0] for row in table_rows("### Parameters of `merchant_leaderboard`")}
    assert documented == {"action"} | {field.name for field in LeaderboardForm()}


def test_offers_parameters_are_documented():
    rows = table_rows("### Parameters of `offers`")
    assert {row[0] for row in rows} == {"action"} | {field.name for field in OffersForm()}
    required = {field.name for field in OffersForm() if any(getattr(v, "__name__", "") == "required" for v in field.validators)}
    assert {row[0] for row in rows if row[1] == "yes"} == {"action"} | required


def test_customer_request_parameters_are_documented():
    rows = table_rows(CUSTOMER_PARAMETERS)
    assert {row[0] for row in rows} == {"action"} | {field.name for field in CustomerForm()}
    required = {field.name for field in CustomerForm() if any(getattr(v, "__name__", "") == "required" for v in field.validators)}
    assert {row[0] for row in rows if row[1] == "yes"} == {"action"} | required
    [action] = [row[2] for row in rows if row[0] == "action"]  # one table for both actions, which share the form
    assert set(re.findall(r"\w+", action)) & set(ACTIONS) == {"customer_reports", "erase_customer"}
