"""Catalogue import: networks, banks, merchants, outlets and offers, upserted by code.

All or nothing: every record is validated (fields, then references) before anything is
written, and the writes share one transaction.
"""
import csv
import json
from pathlib import Path

from werkzeug.datastructures import MultiDict
from wtforms import DateField, Form, StringField
from wtforms.validators import Length, ValidationError

from .db import database
from .forms import NumberField, between, code_field, plain_text, required, strip
from .models import Bank, Merchant, Network, Offer, Outlet


class CatalogError(Exception):
    """An invalid catalogue; the message names the file, the record and the field."""


def _text(label, max_length, needed=True):
    checks = [Length(max=max_length, message=f"must be at most {max_length} characters"), plain_text()]
    return StringField(label, ([required] if needed else []) + checks, filters=[strip])


def _optional_code(label):
    return _text(label, 64, needed=False)


class NetworkRecord(Form):
    code = code_field("code")
    name = _text("name", 200)


class BankRecord(Form):
    code = code_field("code")
    name = _text("name", 200)
    network = _optional_code("network")


class MerchantRecord(Form):
    code = code_field("code")
    name = _text("name", 200)
    category = _text("category", 100, needed=False)


class OutletRecord(Form):
    code = code_field("code")
    merchant = code_field("merchant")
    name = _text("name", 200)
    city = _text("city", 100)
    address = _text("address", 500, needed=False)
    latitude = NumberField("latitude", [between(-90, 90)])
    longitude = NumberField("longitude", [between(-180, 180)])
    radius_m = NumberField("radius_m", [between(1, 100_000, " of metres")])

    def validate_longitude(self, field):
        if (field.data is None) != (self.latitude.data is None):
            raise ValidationError("latitude and longitude must be given together (or both left empty)")


class OfferRecord(Form):
    code = code_field("code")
    title = _text("title", 300)
    bank = _optional_code("bank")
    network = _optional_code("network")
    merchant = code_field("merchant")
    valid_from = DateField("valid_from", [required], format="%Y-%m-%d")
    valid_to = DateField("valid_to", [required], format="%Y-%m-%d")

    def validate_network(self, field):
        if bool(field.data) == bool(self.bank.data):
            raise ValidationError("give exactly one of bank and network")

    def validate_valid_to(self, field):
        if self.valid_from.data and field.data and field.data < self.valid_from.data:
            raise ValidationError("must not be before valid_from")


# section name, record form, model, {field: section its code refers to}, in write order
SECTIONS = [
    ("networks", NetworkRecord, Network, {}),
    ("banks", BankRecord, Bank, {"network": "networks"}),
    ("merchants", MerchantRecord, Merchant, {}),
    ("outlets", OutletRecord, Outlet, {"merchant": "merchants"}),
    ("offers", OfferRecord, Offer, {"bank": "banks", "network": "networks", "merchant": "merchants"}),
]
MODEL_OF = {name: model for name, _, model, _ in SECTIONS}


def read_catalog(path):
    """Raw records by section, each as (where it came from, {field: text}), from JSON or a CSV folder."""
    path = Path(path)
    if path.is_dir():
        return _read_csv_folder(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CatalogError(f"{path.name}: cannot read it as UTF-8 JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path.name}: must be a JSON object with sections {', '.join(MODEL_OF)}")
    unknown = sorted(set(data) - set(MODEL_OF))
    if unknown:
        raise CatalogError(f"{path.name}: unknown section {unknown[0]!r}; sections are {', '.join(MODEL_OF)}")
    records = {}
    for section in MODEL_OF:
        rows = data.get(section, [])
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise CatalogError(f"{path.name}: {section} must be a list of objects")
        records[section] = [(f"{path.name}: {section} record {i}", _as_text(row)) for i, row in enumerate(rows, 1)]
    return records


def _as_text(row):
    return {key: str(value) for key, value in row.items() if value is not None}


def _read_csv_folder(folder):
    records = {}
    for section in MODEL_OF:
        csv_path = folder / f"{section}.csv"
        if not csv_path.exists():
            records[section] = []
            continue
        try:
            with csv_path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle)
                records[section] = [
                    (f"{csv_path.name}: line {reader.line_num}", {k: v for k, v in row.items() if k and v})
                    for row in reader
                ]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CatalogError(f"{csv_path.name}: cannot read it as UTF-8 CSV ({exc})") from None
    if not any(records.values()):
        raise CatalogError(f"{folder}: no {', '.join(s + '.csv' for s in MODEL_OF)} found")
    return records


def _validated(records):
    """Check every record's fields and references; returns cleaned rows by section."""
    known = {name: {code for (code,) in model.select(model.code).tuples()} for name, model in MODEL_OF.items()}
    cleaned = {}
    for section, record_form, _, references in SECTIONS:
        cleaned[section] = []
        seen = set()
        for source, raw in records[section]:
            form = record_form(MultiDict(raw))
            code = raw.get("code", "")
            if not form.validate():
                field, errors = next(iter(form.errors.items()))
                message = "missing value" if errors[0] == "missing" else errors[0]
                raise CatalogError(f"{source} (code {code!r}): {field}: {message}")
            for field, target in references.items():
                value = form.data[field]
                if value and value not in known[target]:
                    raise CatalogError(f"{source} (code {code!r}): {field}: unknown {target[:-1]} code {value!r}")
            if form.code.data in seen:
                raise CatalogError(f"{source} (code {code!r}): code: appears twice in this catalogue")
            seen.add(form.code.data)
            known[section].add(form.code.data)
            cleaned[section].append(form.data)
    return cleaned


def import_catalog(records, on_progress=lambda count: None, batch_size=500):
    """Validate then upsert all records in one transaction; returns counts by section."""
    cleaned = _validated(records)
    with database.atomic():
        for section, _, model, references in SECTIONS:
            ids = {target: _ids_by_code(MODEL_OF[target]) for target in set(references.values())}
            rows = [_db_row(data) for data in cleaned[section]]
            for row in rows:
                for field, target in references.items():
                    row[field] = ids[target].get(row[field])
            fields = [model._meta.fields[name] for name in rows[0]] if rows else []
            for start in range(0, len(rows), batch_size):
                batch = rows[start : start + batch_size]
                (
                    model.insert_many(batch)
                    .on_conflict(conflict_target=[model.code], preserve=[f for f in fields if f.name != "code"])
                    .execute()
                )
                on_progress(len(batch))
    return {section: len(rows) for section, rows in cleaned.items()}


def _ids_by_code(model):
    return dict(model.select(model.code, model.id).tuples())


def _db_row(data):
    """A validated record as column values: blank text becomes NULL, radius whole metres."""
    row = {key: None if value == "" else value for key, value in data.items()}
    if row.get("radius_m") is not None:
        row["radius_m"] = round(row["radius_m"])
    return row


def count_records(records):
    """How many records a catalogue holds, for a progress bar."""
    return sum(len(rows) for rows in records.values())
