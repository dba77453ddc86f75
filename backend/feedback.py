"""Recording a report: the one path every entrance (API, widget, import) goes through.

Entrances parse and authenticate; the rules about what a report may name (bank, offer,
outlet, type, and who may report for that bank) and what it is worth as evidence live here.
"""
import functools
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from .db import database, prepared, retried_if_stale, write_transaction
from .geo import distance_m, location_verdict, nearest_outlet
from .models import Outlet
from .privacy import pseudonym
from .rollups import note_stored

# A position this close to the outlet's recorded point, or claiming this accuracy, is what
# a spoofer sends (phones report 3 m at best, and never land on the catalogue's point).
EXACT_POSITION_M = 0.5
IMPLAUSIBLE_ACCURACY_M = 3
# Consecutive reports of one customer (or device) further apart than this, at a greater
# speed, cannot both have been made at the till (a flight door to door is slower).
TRAVEL_MIN_KM = 2
TRAVEL_MAX_KMH = 300
# A customer counts at one merchant once while they keep reporting it: a report there within
# 30 days of an earlier one (on another day), or after 3 days with reports there in the year,
# is a repeat. A pool of ids cycling through a few targets is soon all repeats.
REPEAT_WINDOW = timedelta(days=30)
REPEAT_DAYS_A_YEAR = 3
HISTORY_ROWS = 50  # a customer's latest reports read for these checks


class ReportRejected(Exception):
    """A report that names something unknown, or something its sender may not report on."""

    def __init__(self, code, message, fields):
        super().__init__(message)
        self.code, self.message, self.fields = code, message, list(fields)


@dataclass(frozen=True)
class Reporter:
    """Who sends reports: a client made for one bank, or for a network's banks."""

    client_id: int | None
    bank_id: int | None
    network_id: int | None

    def serves(self, bank):
        """True when this reporter may report for bank: its own, or one on its network."""
        if self.bank_id is not None:
            return self.bank_id == bank.id
        return bank.network_id is not None and bank.network_id == self.network_id


@dataclass(frozen=True)
class Rules:
    """The settings that decide a report's verdict and whether it repeats an earlier one."""

    default_radius_m: int
    duplicate_window: timedelta
    customer_key: str  # keys the pseudonyms customers are stored as (privacy.pseudonym)

    @classmethod
    def from_config(cls, config):
        return cls(config["LOCATION_RADIUS_M"], timedelta(hours=config["DUPLICATE_WINDOW_HOURS"]), config["CUSTOMER_KEY"])


@dataclass(frozen=True)
class Recorded:
    feedback_id: str
    verdict: str
    distance_m: int | None
    radius_m: int
    offer_status: str
    duplicate: bool


def keyed_hash(secret, value):
    """A keyed hash of an IP address or device id: comparable, not reversible."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def ip_hash(secret, address):
    """The keyed hash a customer's IP address is kept as (by its subscriber network), or None."""
    return keyed_hash(secret, network_of(address)) if address else None


def device_hash(secret, device_id):
    """The keyed hash a device id sent by a bank's server is kept as, or None."""
    return keyed_hash(secret, "device:" + device_id) if device_id else None


def network_of(address):
    """What one subscriber holds of an IP address: the IPv4 address (also when written as
    IPv6-mapped), or the IPv6 /64 (a phone gets a whole /64; within it, addresses are free)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def served_bank(lookups, reporter, bank_code):
    """The bank a code names, known and one the reporter serves; else ReportRejected."""
    bank = lookups.bank(bank_code) if bank_code else None
    if bank is None:
        raise ReportRejected("unknown_code", "Unknown your_bank_code.", ["your_bank_code"])
    if not reporter.serves(bank):
        raise ReportRejected("not_allowed", "This client may not report for that bank.", ["your_bank_code"])
    return bank


def resolve_report(lookups, reporter, *, bank_code, offer_code, outlet_code="", feedback_type=None):
    """The catalogue rows a report names (outlet None when not named; feedback type when
    given), checked to belong together and to the reporter; else ReportRejected."""
    bank = served_bank(lookups, reporter, bank_code)
    offer = lookups.offer(offer_code)
    if offer is None:
        raise ReportRejected("unknown_code", "Unknown offer_code.", ["offer_code"])
    outlet = lookups.outlet(outlet_code) if outlet_code else None
    if outlet_code and outlet is None:
        raise ReportRejected("unknown_code", "Unknown outlet_code.", ["outlet_code"])
    check_belongs_together(bank, offer, outlet)
    found_type = None
    if feedback_type is not None:
        found_type = lookups.feedback_type(feedback_type)
        if found_type is None:
            raise ReportRejected("unknown_code", "Unknown feedback_type: see action=feedback_types.", ["feedback_type"])
    return bank, offer, outlet, found_type


def check_belongs_together(bank, offer, outlet):
    """The offer must be one the bank's customers can use, the outlet one of its merchant's."""
    if not offer.powered_for(bank):
        raise ReportRejected("unknown_code", "That offer is not one of this bank's offers.", ["offer_code", "your_bank_code"])
    if outlet is not None and outlet.merchant_id != offer.merchant_id:
        raise ReportRejected("unknown_code", "That outlet is not one of the offer's merchant's outlets.",
                             ["outlet_code", "offer_code"])


def submit_report(lookups, rules, reporter, *, bank_code, offer_code, outlet_code, feedback_type, user_id, now,
                  received_at=None, latitude=None, longitude=None, accuracy_m=None, comment="", channel="api",
                  anonymous=False, ip_hash=None, device_hash=None):
    """Check what a report names against the catalogue and the reporter, then record it.

    Without an outlet, the customer's position picks the merchant's outlet they stand in.
    """
    bank, offer, outlet, found_type = resolve_report(lookups, reporter, bank_code=bank_code, offer_code=offer_code,
                                                     outlet_code=outlet_code, feedback_type=feedback_type)
    inferred = False
    if outlet is None and latitude is not None:
        candidates = Outlet.select().where(Outlet.merchant == offer.merchant_id, Outlet.latitude.is_null(False))
        outlet = nearest_outlet(candidates, latitude, longitude, accuracy_m, rules.default_radius_m)
        inferred = outlet is not None
    return record_feedback(
        bank=bank, offer=offer, outlet=outlet, feedback_type=found_type, user_id=user_id, now=now, rules=rules,
        received_at=received_at, latitude=latitude, longitude=longitude, accuracy_m=accuracy_m, comment=comment,
        client_id=reporter.client_id, channel=channel, outlet_inferred=inferred, anonymous=anonymous,
        ip_hash=ip_hash, device_hash=device_hash,
    )


@retried_if_stale
def record_feedback(
    *, bank, offer, outlet, feedback_type, user_id, now, rules, received_at=None, latitude=None, longitude=None,
    accuracy_m=None, comment="", client_id=None, channel="api", outlet_inferred=False, anonymous=False, ip_hash=None,
    device_hash=None,
):
    """Store a report made at time now, unless the same customer (bank, user_id) made the
    same one within the duplicate window; judge the evidence it carries as it arrives.
    user_id is the bank's id of its customer: it is stored as its pseudonym.

    outlet may be None for a report kept at merchant level. The leaderboard counters take
    the report up later (rollups.count_pending).
    """
    check_belongs_together(bank, offer, outlet)
    user_id = pseudonym(rules.customer_key, bank.id, user_id)  # the id itself is never stored
    received_at = received_at or now
    delayed = received_at - now > timedelta(minutes=1)
    radius_m = (outlet.radius_m if outlet else None) or rules.default_radius_m
    check = location_verdict(
        latitude, longitude, accuracy_m,
        outlet.latitude if outlet else None, outlet.longitude if outlet else None, radius_m,
    )
    suspicion = []
    if check.verdict == "at_outlet" and (check.distance_m < EXACT_POSITION_M or
                                         (accuracy_m is not None and accuracy_m < IMPLAUSIBLE_ACCURACY_M)):
        suspicion.append("exact_position")
    outlet_id = outlet.id if outlet else None
    param = database.param
    # One read serves the duplicate rule and the judgements below: the customer's latest
    # reports up to the end of the duplicate window (measured: a second query per report
    # cost ~5 % of ingest throughput). It runs once the customer's lock is held.
    # A delayed report is judged against the later ones too: else sending a week newest
    # first would make every day look like the customer's first at the merchant.
    until = now + max(rules.duplicate_window, REPEAT_WINDOW)
    with write_transaction(f"customer:{bank.id}:{user_id}",
                           first=(prepared("customer_reports", _customer_reports_sql(param)),
                                  [bank.id, user_id, until])) as writing:
        reports = [Earlier(_as_datetime(row[0]), *row[1:]) for row in writing.rows]
        earlier = _duplicate_of(reports, offer.id, outlet_id, feedback_type.id, now, rules.duplicate_window)
        if earlier is None and len(reports) == HISTORY_ROWS and reports[-1].created_at > now - rules.duplicate_window:
            # More reports in the window than were read: ask for the duplicate itself.
            earlier = database.execute_sql(_earlier_sql(param, outlet is not None), [
                bank.id, user_id, now - rules.duplicate_window, now + rules.duplicate_window, offer.id] + (
                [outlet_id] if outlet else []) + [feedback_type.id]).fetchone()
        if earlier is not None:
            return Recorded(*earlier, duplicate=True)
        new_customer, repeat, travel = _judged_on_arrival(reports, bank.id, offer, outlet, now, device_hash, delayed)
        if travel:
            suspicion.append("impossible_travel")
        report = Recorded(
            "fb_" + secrets.token_hex(8), check.verdict, check.distance_m, radius_m, offer.status_on(now.date()), False
        )
        values = {
            "public_id": report.feedback_id, "channel": channel, "client_id": client_id, "bank_id": bank.id,
            "offer_id": offer.id, "merchant_id": offer.merchant_id, "outlet_id": outlet_id,
            "feedback_type_id": feedback_type.id, "user_id": user_id, "latitude": latitude, "longitude": longitude,
            "accuracy_m": accuracy_m, "distance_m": check.distance_m, "radius_m": radius_m, "verdict": check.verdict,
            "offer_status": report.offer_status, "comment": comment, "created_at": now,
            "received_at": received_at if delayed else None,
            "outlet_inferred": outlet_inferred, "ip_hash": ip_hash, "device_hash": device_hash,
            "anonymous": anonymous, "new_customer": new_customer, "repeat_visit": repeat,
            "suspicion": ",".join(suspicion),
            "uncounted": True,
        }
        # Sent with the COMMIT on PostgreSQL: one round trip fewer (db.write_transaction).
        writing.finish(prepared("insert_report", _insert_sql(param, tuple(values))), values.values())
    note_stored()
    return report


class Earlier(NamedTuple):
    """One of the customer's stored reports, as the ingest path reads them."""

    created_at: datetime
    merchant_id: int
    offer_id: int
    outlet_id: int | None
    feedback_type_id: int
    public_id: str
    verdict: str
    distance_m: int | None
    radius_m: int
    offer_status: str
    latitude: float | None  # of its outlet
    longitude: float | None


def _duplicate_of(reports, offer_id, outlet_id, type_id, now, window):
    """(public id, verdict, distance, radius, offer status) of the earliest report of the
    same offer, outlet and type within the window around now, or None."""
    for report in reversed(reports):  # oldest first
        if (abs(report.created_at - now) < window and report.offer_id == offer_id and report.outlet_id == outlet_id
                and report.feedback_type_id == type_id):
            return (report.public_id, report.verdict, report.distance_m, report.radius_m, report.offer_status)
    return None


def _judged_on_arrival(reports, bank_id, offer, outlet, now, device_hash, delayed):
    """(brand-new customer, repeat visit, impossible travel), judged against the customer's
    reports stored so far, newest first, those after now (a delayed report's) included; a
    device's reports are read for its neighbours in time (after it too, when delayed).

    Brand-new: nothing of the customer's is stored. Repeat: another day at the merchant
    within 30 days either side, or 3 other days there in the year.
    """
    history = [report for report in reports if report.created_at <= now]
    after = [report for report in reports if report.created_at > now]
    there = [report.created_at for report in reports if report.merchant_id == offer.merchant_id
             and report.created_at.date() != now.date()]
    repeat = len({when.date() for when in there if when > now - timedelta(days=365)}) >= REPEAT_DAYS_A_YEAR or any(
        abs(when - now) < REPEAT_WINDOW for when in there)
    neighbours = [(r.created_at, r.latitude, r.longitude) for r in history[:1] + after[-1:]]
    if device_hash:
        neighbours += [_neighbour("device_hash", bank_id, device_hash, now, True),
                       delayed and _neighbour("device_hash", bank_id, device_hash, now, False)]
    travel = outlet is not None and outlet.latitude is not None and any(
        _impossible_travel(outlet, now, other) for other in neighbours if other)
    return not reports, repeat, travel


def _as_datetime(value):
    """A stored timestamp (SQLite hands back the text peewee stored)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _neighbour(column, bank_id, value, when, before):
    """(time, outlet latitude, outlet longitude) of the report of this customer or device
    just before (or at) when, or just after; None if there is none."""
    return database.execute_sql(_neighbour_sql(database.param, column, before), [bank_id, value, when]).fetchone()


def _impossible_travel(outlet, when, other):
    """True when getting between the other report's outlet and this one would take a
    faster journey than anyone makes."""
    other_time, latitude, longitude = other
    if latitude is None:
        return False
    km = distance_m(outlet.latitude, outlet.longitude, latitude, longitude) / 1000
    hours = abs((when - _as_datetime(other_time)).total_seconds()) / 3600
    return km > TRAVEL_MIN_KM and km > TRAVEL_MAX_KMH * hours


# The ingest path runs fixed SQL statements: building them with peewee's query builder on
# every request cost more than running them (measured with bench/ingest.py).
@functools.cache
def _insert_sql(param, columns):
    names = ", ".join(f'"{column}"' for column in columns)
    return f'INSERT INTO "feedback" ({names}) VALUES ({", ".join([param] * len(columns))})'


@functools.cache
def _earlier_sql(param, with_outlet):
    outlet_test = f'"outlet_id" = {param}' if with_outlet else '"outlet_id" IS NULL'
    return (
        'SELECT "public_id", "verdict", "distance_m", "radius_m", "offer_status" FROM "feedback" '
        f'WHERE "bank_id" = {param} AND "user_id" = {param} AND "created_at" > {param} AND "created_at" < {param} '
        f'AND "offer_id" = {param} AND {outlet_test} AND "feedback_type_id" = {param} ORDER BY "created_at" LIMIT 1'
    )


@functools.cache
def _customer_reports_sql(param):
    return (
        'SELECT f."created_at", f."merchant_id", f."offer_id", f."outlet_id", f."feedback_type_id", f."public_id", '
        'f."verdict", f."distance_m", f."radius_m", f."offer_status", o."latitude", o."longitude" FROM "feedback" f '
        'LEFT JOIN "outlet" o ON o."id" = f."outlet_id" '
        f'WHERE f."bank_id" = {param} AND f."user_id" = {param} AND f."created_at" < {param} '
        f'ORDER BY f."created_at" DESC LIMIT {HISTORY_ROWS}'
    )


@functools.cache
def _neighbour_sql(param, column, before):
    comparison, order = ("<=", "DESC") if before else (">", "ASC")
    return (
        'SELECT f."created_at", o."latitude", o."longitude" FROM "feedback" f '
        'LEFT JOIN "outlet" o ON o."id" = f."outlet_id" '
        f'WHERE f."bank_id" = {param} AND f."{column}" = {param} AND f."created_at" {comparison} {param} '
        f'ORDER BY f."created_at" {order} LIMIT 1'
    )
