"""import-reports: historic or queued reports from a CSV or JSON Lines file.

Each row goes through the same form and the same domain path as an API request
(feedback.submit_report): location verdict, duplicates, evidence, counters. Only the
report's time differs: a row gives it (reported_at), at any age.
"""
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.datastructures import MultiDict

from .db import write_transaction
from .feedback import ReportRejected, device_hash, ip_hash, resolve_report, submit_report
from .forms import ImportRowForm, bound_form, form_problems, reported_at_problem

COLUMNS = ("reported_at", "your_bank_code", "user_id", "offer_code", "outlet_code", "feedback_type", "user_latitude",
           "user_longitude", "user_accuracy", "comment", "device_id", "client_ip")
BATCH = 500  # rows stored per transaction: one commit each, not one per row
ERRORS_KEPT = 100


class ImportFileError(Exception):
    """The file as a whole cannot be read (not the fault of one row)."""


@dataclass
class ImportSummary:
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    bad: int = 0
    errors: list = field(default_factory=list)  # the first ERRORS_KEPT: {"line", "fields", "message"}

    def add_error(self, line, fields, message):
        self.bad += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append({"line": line, "fields": list(fields), "message": message})


def read_rows(path):
    """(line number, {column: text}) for each row of a CSV file with a header row, or of a
    JSON Lines file (.jsonl, .ndjson); a row that cannot be read comes as (line, error text)."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _json_lines(path)
    return _csv_rows(path)


def _json_lines(path):
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                yield number, "is not a JSON object"
                continue
            if not isinstance(record, dict):
                yield number, "is not a JSON object"
                continue
            unknown = sorted(set(record) - set(COLUMNS))
            wrong = [key for key, value in record.items() if isinstance(value, (bool, dict, list))]
            if unknown:
                yield number, f"unknown field(s): {', '.join(unknown)}"
                continue
            if wrong:
                yield number, f"{wrong[0]} must be a string or a number"
                continue
            yield number, {key: value if isinstance(value, str) else str(value)
                           for key, value in record.items() if value is not None}


def _csv_rows(path):
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as text:
        reader = csv.DictReader(text)
        try:
            names = reader.fieldnames
        except csv.Error as exc:
            raise ImportFileError(f"The header row cannot be read ({exc})") from None
        if names is None:
            return
        _check_columns([name.strip() for name in names])
        line = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a cell over the csv module's limit (128 KB), say
                line += 1  # the reader's own count is not always advanced yet
                yield line, f"cannot be read ({exc})"
                continue
            line = reader.line_num
            # The header is line 1; a quoted cell may span lines, so ask the reader.
            if None in row:
                yield line, "has more cells than the header (a comma in an unquoted value?)"
                continue
            yield line, {name.strip(): value for name, value in row.items() if value not in (None, "")}


def _check_columns(names):
    unknown = sorted(set(names) - set(COLUMNS))
    if unknown:
        raise ImportFileError(f"Unknown column(s): {', '.join(unknown)}. The columns are: {', '.join(COLUMNS)}")


def checked_row(values, lookups, reporter, now):
    """A valid row's form, or (fields, message) saying what is wrong with it."""
    form = bound_form(ImportRowForm, MultiDict(values))
    if not form.validate():
        missing, invalid = form_problems(form)
        if missing:
            return missing, "missing value for: " + ", ".join(missing)
        return list(invalid), "; ".join(f"{name}: {message}" for name, message in invalid.items())
    problem = reported_at_problem(form.reported_at.data, now, None)
    if problem:
        return ["reported_at"], f"reported_at: {problem}"
    return form


def import_reports(path, *, lookups, reporter, rules, secret, now, skip_bad=False, on_progress=lambda rows: None):
    """Record every row of the file as reporter's reports; returns an ImportSummary.

    Unless skip_bad, the whole file is checked first and nothing is stored if any row is
    bad; with skip_bad, good rows are stored and bad ones listed.
    """
    if not skip_bad:
        checked = ImportSummary()
        for line, values in read_rows(path):
            checked.rows += 1
            problem = _row_problem(values, lookups, reporter, now)
            if problem:
                checked.add_error(line, *problem)
        if checked.bad:
            return checked
    summary = ImportSummary()
    rows = read_rows(path)
    while True:
        batch = [row for _, row in zip(range(BATCH), rows)]
        if not batch:
            return summary
        with write_transaction("import-reports"):
            for line, values in batch:
                _store_row(summary, line, values, lookups=lookups, reporter=reporter, rules=rules, secret=secret,
                           now=now)
        on_progress(len(batch))


def _row_problem(values, lookups, reporter, now):
    """(fields, message) when a row cannot be stored, checked as far as storing it would."""
    if isinstance(values, str):
        return [], values
    form = checked_row(values, lookups, reporter, now)
    if not isinstance(form, ImportRowForm):
        return form
    try:
        _resolve(form, lookups, reporter)
    except ReportRejected as exc:
        return exc.fields, exc.message
    return None


def _resolve(form, lookups, reporter):
    return resolve_report(lookups, reporter, bank_code=form.your_bank_code.data, offer_code=form.offer_code.data,
                          outlet_code=form.outlet_code.data, feedback_type=form.feedback_type.data)


def _store_row(summary, line, values, *, lookups, reporter, rules, secret, now):
    summary.rows += 1
    if isinstance(values, str):
        summary.add_error(line, [], values)
        return
    form = checked_row(values, lookups, reporter, now)
    if not isinstance(form, ImportRowForm):
        summary.add_error(line, *form)
        return
    try:
        result = submit_report(
            lookups, rules, reporter, bank_code=form.your_bank_code.data, offer_code=form.offer_code.data,
            outlet_code=form.outlet_code.data, feedback_type=form.feedback_type.data, user_id=form.user_id.data,
            now=form.reported_at.data, received_at=now, latitude=form.user_latitude.data,
            longitude=form.user_longitude.data, accuracy_m=form.user_accuracy.data, comment=form.comment.data or "",
            channel="import", ip_hash=ip_hash(secret, form.client_ip.data),
            device_hash=device_hash(secret, form.device_id.data),
        )
    except ReportRejected as exc:
        summary.add_error(line, exc.fields, exc.message)
        return
    if result.duplicate:
        summary.duplicates += 1
    else:
        summary.stored += 1


def count_lines(path):
    """Lines in the file (for a progress bar)."""
    with open(path, "rb") as data:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: data.read(1 << 20), b""))
