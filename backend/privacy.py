"""Customers' personal data: pseudonymous ids, retention, and access and erasure requests.

A customer is a bank's identifier (e-mail, customer number, a widget device id). We store
only a pseudonym: HMAC-SHA256 of the id under a key per bank, derived from CUSTOMER_KEY,
which lives outside the database (config.customer_key). The leaderboard needs to know that
two reports came from the same customer, never who: duplicates, customer-days and limits
all work on the pseudonym. A bank that types a customer's id gets the same pseudonym, which
finds the reports; the id itself is never stored.

Erasure replaces the pseudonym by a tombstone per merchant ("x" and 32 random hex digits),
in the reports and in the counters, so that every count stays as it was, a recount too; and
removes the comments, positions and hashed IP and device of those reports.
"""
import functools
import hashlib
import hmac
import secrets
from datetime import timedelta


from .db import exclusive, write_transaction
from .models import CustomerDay, Feedback, FeedbackType, Merchant, MerchantCustomer, Outlet
from .rollups import COUNTING_LOCK

PSEUDONYM_PREFIX = "c"
TOMBSTONE_PREFIX = "x"


@functools.lru_cache(maxsize=1024)
def _bank_key(secret, bank_id):
    return hmac.new(secret.encode(), f"bank:{bank_id}".encode(), hashlib.sha256).digest()


def pseudonym(secret, bank_id, user_id):
    """What a bank's customer id is stored as: 'c' and 40 hex digits (160 bits)."""
    return PSEUDONYM_PREFIX + hmac.new(_bank_key(secret, bank_id), user_id.encode(), hashlib.sha256).hexdigest()[:40]


def shown(stored, anonymous=False):
    """A stored customer as admin pages and CSVs show it: cust-3fa2c1 (device-… for an
    unsigned widget device), 'erased' for a tombstone."""
    if stored.startswith(TOMBSTONE_PREFIX):
        return "erased"
    return ("device-" if anonymous else "cust-") + stored[1:7]


def customer_reports(secret, bank, user_id):
    """Every stored report of a bank's customer, oldest first, as the API answers them."""
    return stored_reports(bank, pseudonym(secret, bank.id, user_id))


def stored_reports(bank, stored):
    """customer_reports, of a customer by their pseudonym."""
    reports = list(Feedback.select().where(Feedback.bank == bank.id, Feedback.user_id == stored)
                   .order_by(Feedback.created_at, Feedback.id))
    merchants = {m.id: m for m in Merchant.select().where(Merchant.id.in_({r.merchant_id for r in reports}))}
    outlets = dict(Outlet.select(Outlet.id, Outlet.code).where(Outlet.id.in_({r.outlet_id for r in reports})).tuples())
    types = dict(FeedbackType.select(FeedbackType.id, FeedbackType.slug).tuples())
    return [{"feedback_id": r.public_id, "reported_at": r.created_at.isoformat(timespec="seconds") + "Z",
             "merchant_code": merchants[r.merchant_id].code, "merchant_name": merchants[r.merchant_id].name,
             "outlet_code": outlets.get(r.outlet_id), "feedback_type": types[r.feedback_type_id],
             "verdict": r.verdict, "distance_m": r.distance_m, "comment": r.comment,
             "latitude": r.latitude, "longitude": r.longitude, "channel": r.channel} for r in reports]


def erase_customer(secret, bank, user_id, record=lambda erased: None):
    """Remove a bank's customer from every report and counter; the number of reports erased.
    Idempotent: a second erasure finds nothing. Runs under the counting lock (counting reads
    the pseudonyms it replaces) and the customer's own ingest lock (no report of theirs is
    stored half-way through); record(erased) runs in the same transaction (the audit log)."""
    return erase_stored(bank, pseudonym(secret, bank.id, user_id), record)


def erase_stored(bank, stored, record=lambda erased: None):
    """erase_customer, of a customer by their pseudonym."""
    if not stored.startswith(PSEUDONYM_PREFIX):
        return 0
    erased = 0
    with exclusive(COUNTING_LOCK), write_transaction(f"customer:{bank.id}:{stored}"):
        merchants = [m for (m,) in Feedback.select(Feedback.merchant).distinct()
                     .where(Feedback.bank == bank.id, Feedback.user_id == stored).tuples()]
        for merchant_id in merchants:
            tombstone = TOMBSTONE_PREFIX + secrets.token_hex(16)
            erased += (Feedback.update(user_id=tombstone, comment="", latitude=None, longitude=None, accuracy_m=None,
                                       ip_hash=None, device_hash=None)
                       .where(Feedback.bank == bank.id, Feedback.user_id == stored, Feedback.merchant == merchant_id)
                       .execute())
            for model in (CustomerDay, MerchantCustomer):
                model.update(user_id=tombstone).where(model.bank == bank.id, model.user_id == stored,
                                                      model.merchant == merchant_id).execute()
        record(erased)
    return erased


def apply_retention(now, keep_coordinates_days, keep_comments_days):
    """Remove positions older than keep_coordinates_days (the verdict and distance stay) and
    comments older than keep_comments_days; (positions removed, comments removed)."""
    with write_transaction("retention"):  # queued with the other writers (SQLite: the writers' lock)
        positions = (Feedback.update(latitude=None, longitude=None, accuracy_m=None)
                     .where(Feedback.created_at < now - timedelta(days=keep_coordinates_days),
                            Feedback.latitude.is_null(False) | Feedback.accuracy_m.is_null(False)).execute())
        comments = (Feedback.update(comment="")
                    .where(Feedback.created_at < now - timedelta(days=keep_comments_days), Feedback.comment != "")
                    .execute())
    return positions, comments
