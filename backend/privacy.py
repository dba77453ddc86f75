"""Customers' personal data: pseudonymous ids, retention, and access and erasure requests.

A customer is a bank's identifier (e-mail, customer number, a widget device id). We store
only a pseudonym: HMAC-SHA256 of the id under a key per bank, derived from CUSTOMER_KEY,
which lives outside the database (config.customer_key). The leaderboard needs to know that
two reports came from the same customer, never who: duplicates, customer-days and limits
all work on the pseudonym. A bank that types a customer's id gets the same pseudonym, which
finds the reports; the id itself is never stored.

Erasure replaces the pseudonym by a tombstone per merchant ("x" and 32 random hex digits),
in the reports and in the counters, so that every count stays as it was, a recount too; and
removes the comments and positions of those reports (their keyed IP and device hashes stay:
counting discounts by them, and they say nothing without the server's key).
"""
import functools
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from peewee import Cast, SqliteDatabase, Value, fn

from .db import WRITER_LOCK, database, exclusive, write_transaction
from .models import CustomerDay, Feedback, FeedbackType, KeyCheck, Merchant, MerchantCustomer, Outlet
from .rollups import COUNTING_LOCK

log = logging.getLogger(__name__)
PSEUDONYM_PREFIX = "c"
TOMBSTONE_PREFIX = "x"


@functools.lru_cache(maxsize=1024)
def _bank_key(secret, bank_id):
    return hmac.new(secret.encode(), f"bank:{bank_id}".encode(), hashlib.sha256).digest()


def pseudonym(secret, bank_id, user_id):
    """What a bank's customer id is stored as: 'c' and 40 hex digits (160 bits)."""
    return PSEUDONYM_PREFIX + hmac.new(_bank_key(secret, bank_id), user_id.encode(), hashlib.sha256).hexdigest()[:40]


class KeyMismatch(Exception):
    """CUSTOMER_KEY is not the key this database's customers were stored with."""


def check_customer_key(secret):
    """Record which key this database's pseudonyms are made with (a check value, not the
    key), or raise KeyMismatch when it is another: a host with its own key would split every
    customer in two, and miss them in access and erasure requests."""
    check = hmac.new(secret.encode(), b"customer key check", hashlib.sha256).hexdigest()
    KeyCheck.insert(name="customer_key", value=check).on_conflict_ignore().execute()
    if KeyCheck.get_by_id("customer_key").value != check:
        raise KeyMismatch("CUSTOMER_KEY (or the data folder's customer_key) is not the key this database's customers "
                          "were stored with: give every app host the same one (docs/privacy.md).")


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
            # The keyed hashes of IP and device stay: counting discounts by them (a recount
            # must give the same), and they say nothing without the server's key. The public
            # id the bank was answered changes: the bank cannot link the reports back.
            erased += (Feedback.update(user_id=tombstone, comment="", latitude=None, longitude=None, accuracy_m=None,
                                       public_id=Value("fb_erased_").concat(Cast(Feedback.id, "VARCHAR(20)")))
                       .where(Feedback.bank == bank.id, Feedback.user_id == stored, Feedback.merchant == merchant_id)
                       .execute())
            for model in (CustomerDay, MerchantCustomer):
                model.update(user_id=tombstone).where(model.bank == bank.id, model.user_id == stored,
                                                      model.merchant == merchant_id).execute()
        record(erased)
    forget_old_pages()
    return erased


def forget_old_pages():
    """SQLite: empty the write-ahead log, whose old page images still hold what was just
    removed (secure_delete overwrites it in the database file only). Under the writers'
    lock, so no write slips in; a reader still busy makes it wait (SQLite's busy timeout)."""
    if isinstance(database.obj, SqliteDatabase):
        with exclusive(WRITER_LOCK):
            busy, _, _ = database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning("The write-ahead log could not be emptied after an erasure: a reader was busy")


RETENTION_BATCH = 10_000  # report ids a retention transaction goes through


def apply_retention(now, keep_coordinates_days, keep_comments_days):
    """Remove positions older than keep_coordinates_days (the verdict and distance stay) and
    comments older than keep_comments_days; (positions removed, comments removed).

    In batches of report ids, each a short transaction under the counting lock (as erasure
    and counting): writers wait for one batch at most, never for the whole table, and no
    two of them lock the same rows in another order."""
    positions = comments = 0
    last = Feedback.select(fn.MAX(Feedback.id)).scalar() or 0
    for first in range(1, last + 1, RETENTION_BATCH):
        batch = Feedback.id.between(first, first + RETENTION_BATCH - 1)
        with exclusive(COUNTING_LOCK), write_transaction("retention"):
            positions += (Feedback.update(latitude=None, longitude=None, accuracy_m=None)
                          .where(batch, Feedback.created_at < now - timedelta(days=keep_coordinates_days),
                                 Feedback.latitude.is_null(False) | Feedback.accuracy_m.is_null(False)).execute())
            comments += (Feedback.update(comment="")
                         .where(batch, Feedback.created_at < now - timedelta(days=keep_comments_days),
                                Feedback.comment != "").execute())
    if positions or comments:
        forget_old_pages()
    return positions, comments
