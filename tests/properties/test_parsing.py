"""Hypothesis tests of the API's parameter parsing (backend/forms.py, type ids in lookups):
any text gives a clean validation result, numbers are ASCII digits only, limits hold."""
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from backend.db import database, use_database
from backend.forms import CONTROL, LeaderboardForm, UserFeedbackForm, bound_form, form_problems
from backend.lookups import Lookups
from backend.models import DEFAULT_FEEDBACK_TYPES, create_tables

# Bounded: the whole file runs in a few seconds.
BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID_REPORT = {"clientkey": "ck_1", "clientpass": "pass", "apikey": "key", "user_id": "asha@example.com",
                "feedback_type": "1", "offer_code": "OF1", "your_bank_code": "BANK1", "outlet_code": "O1"}
NUMBERS = ("user_latitude", "user_longitude", "user_accuracy")
ASCII_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
# Every parameter a form reads, valid or not, and any text at all, surrogates aside (a form
# value is text decoded from UTF-8, which cannot hold one; request_params refuses JSON's).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
ANY_PARAMS = st.dictionaries(st.sampled_from(sorted({*VALID_REPORT, *NUMBERS, "comment", "reported_at", "device_id",
                                                     "client_ip", "period", "from", "to", "limit",
                                                     "verified_only"})), TEXT)


def parsed(form_class, params):
    """(valid, form, missing, invalid): the form's verdict on params, as the API takes it."""
    form = bound_form(form_class, MultiDict(params))
    valid = form.validate()
    missing, invalid = form_problems(form)
    return valid, form, missing, invalid


@BOUNDED
@given(ANY_PARAMS)
def test_any_text_gives_a_clean_verdict(params):
    for form_class in (UserFeedbackForm, LeaderboardForm):
        valid, form, missing, invalid = parsed(form_class, params)
        assert valid == (not missing and not invalid)
        assert all(isinstance(message, str) and message for message in invalid.values())
        if valid:
            for name in NUMBERS:
                if name in form:
                    value = form[name].data
                    assert value is None or (isinstance(value, float) and math.isfinite(value))


@BOUNDED
@given(st.sampled_from(NUMBERS), TEXT)
def test_numbers_are_ascii_decimals_in_range(name, text):
    params = {**VALID_REPORT, "user_latitude": "19.0", "user_longitude": "72.8", name: text}
    valid, form, _missing, invalid = parsed(UserFeedbackForm, params)
    stripped = text.strip()
    if not stripped:
        return  # not given: the coordinates-together rule answers, tested apart
    if not ASCII_NUMBER.fullmatch(stripped):
        assert name in invalid, f"{text!r} was taken as {form[name].data!r}"
    elif valid:
        assert form[name].data == float(stripped)


@BOUNDED
@given(st.sampled_from(NUMBERS), st.text("0123456789", min_size=1, max_size=4), st.sampled_from([
    "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",  # full-width
    "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",  # Arabic-Indic
    "\u0966\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f",  # Devanagari
]))
def test_non_ascii_digits_and_underscores_are_not_numbers(name, digits, script):
    for spelling in (digits.translate(str.maketrans("0123456789", script)), digits[0] + "_" + digits):
        params = {**VALID_REPORT, "user_latitude": "1", "user_longitude": "1", name: spelling}
        valid, form, _missing, invalid = parsed(UserFeedbackForm, params)
        assert name in invalid, f"{spelling!r} was taken as {form[name].data!r}"


@BOUNDED
@given(st.floats(-90, 90), st.floats(-180, 180), st.floats(0, 100_000))
def test_numbers_in_range_are_taken_as_written(latitude, longitude, accuracy):
    params = {**VALID_REPORT, "user_latitude": repr(latitude), "user_longitude": repr(longitude),
              "user_accuracy": repr(accuracy)}
    valid, form, _missing, invalid = parsed(UserFeedbackForm, params)
    assert valid, invalid
    assert (form.user_latitude.data, form.user_longitude.data, form.user_accuracy.data) == (latitude, longitude, accuracy)


STRINGS = {"user_id": 254, "comment": 1000, "offer_code": 64, "your_bank_code": 64, "outlet_code": 64,
           "feedback_type": 64, "device_id": 128, "clientkey": 200, "clientpass": 200, "apikey": 200}


@BOUNDED
@given(st.sampled_from(sorted(STRINGS)), TEXT)
def test_strings_are_trimmed_bounded_and_free_of_control_characters(name, text):
    valid, form, missing, invalid = parsed(UserFeedbackForm, {**VALID_REPORT, name: text})
    value = text.strip(" \t\n\r")  # only spaces, tabs and line ends are trimmed
    allowed = {"\t", "\n", "\r"} if name == "comment" else set()
    if not value.strip():
        assert (name in missing) if name in VALID_REPORT else (valid or name in invalid)
    elif len(value) > STRINGS[name] or any(CONTROL.match(c) and c not in allowed for c in value):
        assert name in invalid
    else:
        assert valid, invalid
        assert form[name].data == value


@pytest.fixture(scope="module")
def lookups(tmp_path_factory):
    """Type look-ups on a SQLite database holding the default feedback types."""
    use_database(f"sqlite:///{tmp_path_factory.mktemp('types') / 'types.db'}")
    database.connect(reuse_if_open=True)
    create_tables()
    yield Lookups(0, 0)
    database.close()


@BOUNDED
@given(st.one_of(TEXT, st.integers(-10, 10**12).map(str),
                 st.sampled_from([t[0] for t in DEFAULT_FEEDBACK_TYPES]).map(lambda i: f"0{i}"),
                 st.sampled_from([str(t[0]) for t in DEFAULT_FEEDBACK_TYPES] + [t[1] for t in DEFAULT_FEEDBACK_TYPES])))
def test_feedback_types_are_found_only_as_the_catalogue_writes_them(lookups, ref):
    found = lookups.feedback_type(ref)
    written = {str(t[0]): t[0] for t in DEFAULT_FEEDBACK_TYPES} | {t[1]: t[0] for t in DEFAULT_FEEDBACK_TYPES}
    assert (found.id if found else None) == written.get(ref)
