"""Recording a report: the one path every channel (API, widget, import) ends in."""
import functools
import secrets
from dataclasses import dataclass

from .db import database, write_transaction
from .geo import location_verdict
from .rollups import note_stored


@dataclass(frozen=True)
class Recorded:
    feedback_id: str
    verdict: str
    distance_m: int | None
    radius_m: int
    offer_status: str
    duplicate: bool


def record_feedback(
    *, bank, offer, outlet, feedback_type, user_id, now, default_radius_m, duplicate_window,
    latitude=None, longitude=None, accuracy_m=None, comment="", client_id=None, channel="api",
    outlet_inferred=False, ip_hash=None,
):
    """Store a report unless the same one came within duplicate_window; trusts its arguments.

    The catalogue objects must already be checked to belong together; outlet may be
    None for a report kept at merchant level. The leaderboard counters take the report
    up later (rollups.count_pending).
    """
    radius_m = (outlet.radius_m if outlet else None) or default_radius_m
    check = location_verdict(
        latitude, longitude, accuracy_m,
        outlet.latitude if outlet else None, outlet.longitude if outlet else None, radius_m,
    )
    key = (user_id, offer.id, outlet.id if outlet else None, feedback_type.id)
    with write_transaction("feedback:{}:{}:{}:{}".format(*key)):
        # Both ways in time: historic reports may be recorded out of order.
        args = [user_id, offer.id] + ([outlet.id] if outlet else []) + [feedback_type.id, now - duplicate_window,
                                                                         now + duplicate_window]
        row = database.execute_sql(_earlier_sql(database.param, outlet is not None), args).fetchone()
        if row is not None:
            return Recorded(*row, duplicate=True)
        report = Recorded(
            "fb_" + secrets.token_hex(8), check.verdict, check.distance_m, radius_m, offer.status_on(now.date()), False
        )
        values = {
            "public_id": report.feedback_id, "channel": channel, "client_id": client_id, "bank_id": bank.id,
            "offer_id": offer.id, "merchant_id": offer.merchant_id, "outlet_id": key[2],
            "feedback_type_id": feedback_type.id, "user_id": user_id, "latitude": latitude, "longitude": longitude,
            "accuracy_m": accuracy_m, "distance_m": check.distance_m, "radius_m": radius_m, "verdict": check.verdict,
            "offer_status": report.offer_status, "comment": comment, "created_at": now,
            "outlet_inferred": outlet_inferred, "ip_hash": ip_hash, "uncounted": True,
        }
        database.execute_sql(_insert_sql(database.param, tuple(values)), list(values.values()))
    note_stored()
    return report


# The ingest path runs two fixed SQL statements: building them with peewee's query builder
# on every request cost more than running them (measured with bench/ingest.py).
@functools.cache
def _insert_sql(param, columns):
    names = ", ".join(f'"{column}"' for column in columns)
    return f'INSERT INTO "feedback" ({names}) VALUES ({", ".join([param] * len(columns))})'


@functools.cache
def _earlier_sql(param, with_outlet):
    outlet_test = f'"outlet_id" = {param}' if with_outlet else '"outlet_id" IS NULL'
    return (
        'SELECT "public_id", "verdict", "distance_m", "radius_m", "offer_status" FROM "feedback" '
        f'WHERE "user_id" = {param} AND "offer_id" = {param} AND {outlet_test} AND "feedback_type_id" = {param} '
        f'AND "created_at" > {param} AND "created_at" < {param} ORDER BY "created_at" LIMIT 1'
    )
