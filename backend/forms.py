"""WTForms that parse and validate every API request; errors name the fields at fault."""
import ipaddress
import math
import re
import threading
from urllib.parse import unquote_to_bytes
from datetime import date, datetime, timedelta, timezone

from wtforms import Form, StringField
from wtforms.validators import Length, StopValidation, ValidationError

MISSING = "missing"


def required(form, field):
    """A value must be present and not blank."""
    if not (field.raw_data and field.raw_data[0].strip()):
        field.errors[:] = []
        raise StopValidation(MISSING)


# Unicode category Cc is exactly these ranges; U+FFFD marks bytes that were not UTF-8.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_BUT_WHITESPACE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def plain_text(allow_newlines=False):
    """Refuse control characters (newline and tab allowed in free text). Bytes that are not
    UTF-8 are refused before the form is read (undecodable_fields)."""
    forbidden = CONTROL_BUT_WHITESPACE if allow_newlines else CONTROL

    def check(form, field):
        if forbidden.search(field.data or ""):
            raise ValidationError("must not contain control characters")

    return check


NON_ASCII_ESCAPE = re.compile(rb"%[89a-fA-F]|[\x80-\xff]")


def undecodable_fields(urlencoded):
    """Names of the parameters of a query string or form body whose percent-decoded name
    or value is not UTF-8 (Werkzeug would pass such bytes on as U+FFFD, or drop the pair)."""
    if not NON_ASCII_ESCAPE.search(urlencoded):
        return []
    bad = []
    for pair in urlencoded.split(b"&"):
        name, _, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in pair.partition(b"="))
        try:
            name.decode("utf-8"), value.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(name.decode("utf-8", "replace"))
    return bad


def between(low, high, unit=""):
    """A number, when given, must lie in [low, high]."""

    def check(form, field):
        if field.data is not None and not low <= field.data <= high:
            raise ValidationError(f"must be a number{unit} between {low} and {high}")

    return check


def strip(value):
    """Spaces, tabs and line ends around a value go; other control characters stay, to be refused."""
    return value.strip(" \t\r\n") if isinstance(value, str) else value


# ASCII digits only: float() would also take "١٨.٥", "１８.５" and "1_8.5".
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


class NumberField(StringField):
    """A decimal number in ASCII digits; blank means not given. NaN and infinities are refused."""

    def process_formdata(self, valuelist):
        raw = strip(valuelist[0]) if valuelist else ""
        self.data = None
        if raw:
            if not NUMBER.fullmatch(raw):
                raise ValueError("must be a number")
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError("must be a finite number")
            self.data = value

    def _value(self):
        return "" if self.data is None else str(self.data)


def code_field(label):
    return StringField(label, [required, Length(max=64, message="must be at most 64 characters"), plain_text()], filters=[strip])


def secret_field(label):
    return StringField(label, [required, Length(max=200, message="must be at most 200 characters"), plain_text()], filters=[strip])


class CredentialsForm(Form):
    clientkey = secret_field("clientkey")
    clientpass = secret_field("clientpass")
    apikey = secret_field("apikey")


ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?")
UTC_OFFSET = re.compile(r"Z|[+-][0-9]{2}:[0-9]{2}")


class ReportedAtField(StringField):
    """An ISO 8601 time with a UTC offset (ASCII digits), kept as naive UTC; blank means not given."""

    def process_formdata(self, valuelist):
        raw = strip(valuelist[0]) if valuelist else ""
        self.data = None
        if raw:
            time_part = ISO_TIME.match(raw)
            if not time_part:
                raise ValueError("must be an ISO 8601 time such as 2026-03-01T18:30:00+05:30")
            if not UTC_OFFSET.fullmatch(raw[time_part.end():]):
                raise ValueError("must give its UTC offset, such as +05:30 or Z")
            try:
                self.data = datetime.fromisoformat(raw).astimezone(timezone.utc).replace(tzinfo=None)
            except (ValueError, OverflowError):
                raise ValueError("is not a real time") from None

    def _value(self):
        return "" if self.data is None else self.data.isoformat() + "Z"


def client_ip(form, field):
    """An IPv4 or IPv6 address, when given."""
    if field.data:
        try:
            ipaddress.ip_address(field.data)
        except ValueError:
            raise ValidationError("must be an IPv4 or IPv6 address") from None


class ReportForm(Form):
    """What a report says: the API's parameters (credentials apart) and import-reports' columns."""

    user_id = StringField(
        "user_id", [required, Length(max=254, message="must be at most 254 characters"), plain_text()], filters=[strip]
    )
    user_latitude = NumberField("user_latitude", [between(-90, 90)])
    user_longitude = NumberField("user_longitude", [between(-180, 180)])
    user_accuracy = NumberField("user_accuracy", [between(0, 100_000, " of metres")])
    feedback_type = StringField(
        "feedback_type", [required, Length(max=64, message="must be at most 64 characters"), plain_text()], filters=[strip]
    )
    comment = StringField(
        "comment", [Length(max=1000, message="must be at most 1000 characters"), plain_text(allow_newlines=True)],
        filters=[strip],
    )
    offer_code = code_field("offer_code")
    your_bank_code = code_field("your_bank_code")
    outlet_code = code_field("outlet_code")
    reported_at = ReportedAtField("reported_at")
    # The customer's device and IP address as the bank's server saw them (optional signals).
    device_id = StringField("device_id", [Length(max=128, message="must be at most 128 characters"), plain_text()],
                            filters=[strip])
    client_ip = StringField("client_ip", [Length(max=64, message="must be at most 64 characters"), client_ip],
                            filters=[strip])

    def validate(self, extra_validators=None):
        """Also require the two coordinates together."""
        ok = super().validate(extra_validators)
        lat, lon = self.user_latitude, self.user_longitude
        if not (lat.errors or lon.errors) and (lat.data is None) != (lon.data is None):
            lat.errors.append("must be given together with user_longitude")
            lon.errors.append("must be given together with user_latitude")
            ok = False
        return ok


class UserFeedbackForm(CredentialsForm, ReportForm):
    """action=user_feedback."""


class ImportRowForm(ReportForm):
    """A row of import-reports: the report's time is required."""

    reported_at = ReportedAtField("reported_at", [required])


def reported_at_problem(reported_at, now, max_age, skew=timedelta(minutes=5)):
    """Why a report's time is refused (in the future, or older than max_age), or None."""
    if reported_at > now + skew:
        return "must not be in the future"
    if max_age is not None and reported_at < now - max_age:
        return f"must be within the last {max_age.days} days"
    return None


_per_thread = threading.local()


def bound_form(form_class, formdata):
    """A form_class form holding formdata (not yet validated), bound once per thread.

    WTForms process() puts new data into every field of the bound form (and validate()
    replaces every error): binding its fields anew for each report cost ~60 µs of a
    report's ~550 µs in the app (measured), and most of an imported row's time.
    """
    forms = _per_thread.__dict__.setdefault("forms", {})
    form = forms.get(form_class)
    if form is None:
        form = forms[form_class] = form_class()
    form.process(formdata)
    return form


def form_problems(form):
    """Split a validated form's errors into (missing field names, {field: first message})."""
    errors = {form[name].name: messages for name, messages in form.errors.items()}  # as the parameters are spelt
    missing = [name for name, messages in errors.items() if messages and messages[0] == MISSING]
    invalid = {name: messages[0] for name, messages in errors.items() if messages and messages[0] != MISSING}
    return missing, invalid


class LeaderboardForm(CredentialsForm):
    """action=merchant_leaderboard: the period as period=7|30|90 or from/to dates, type, limit."""

    period = StringField("period", filters=[strip])
    start = StringField("from", filters=[strip], name="from")
    end = StringField("to", filters=[strip], name="to")
    feedback_type = StringField("feedback_type", [Length(max=64, message="must be at most 64 characters"), plain_text()],
                                filters=[strip])
    limit = NumberField("limit", [between(1, 200)])
    verified_only = StringField("verified_only", filters=[strip])

    def validate_verified_only(self, field):
        if field.data and field.data.lower() not in ("1", "0", "true", "false"):
            raise ValidationError("must be 1 or 0 (true or false)")

    def wants_verified_only(self):
        return (self.verified_only.data or "").lower() in ("1", "true")

    def validate_period(self, field):
        if field.data and field.data not in ("7", "30", "90"):
            raise ValidationError("must be 7, 30 or 90")
        if field.data and (self.start.data or self.end.data):
            raise ValidationError("give either period or from and to, not both")

    def validate_end(self, field):
        dates = []
        for value in (self.start.data, field.data):
            try:
                dates.append(date.fromisoformat(value) if value else None)
            except ValueError:
                raise ValidationError("from and to must be dates as YYYY-MM-DD") from None
        if (dates[0] is None) != (dates[1] is None):
            raise ValidationError("from and to must be given together")
        if dates[0] and not timedelta(0) <= dates[1] - dates[0] <= timedelta(days=366):
            raise ValidationError("must not be before from, nor more than a year after it")
        if dates[1] and dates[1].year > 2999:  # date arithmetic overflows near the year 9999
            raise ValidationError("must be a date before the year 3000")
        self.dates = dates

    dates = (None, None)

    def validate_limit(self, field):
        if field.data is not None and field.data != int(field.data):
            raise ValidationError("must be a whole number")


class OffersForm(CredentialsForm):
    """action=offers: a network's client may name one of its banks."""

    your_bank_code = StringField("your_bank_code", [Length(max=64, message="must be at most 64 characters"), plain_text()],
                                 filters=[strip])


class CustomerForm(OffersForm):
    """action=customer_reports and action=erase_customer: one customer of one bank (a
    network's client names the bank)."""

    user_id = ReportForm.user_id
