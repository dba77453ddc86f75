"""record_feedback, the domain function every channel ends in, without HTTP."""
import threading
from datetime import datetime, timedelta

import pytest
from peewee import IntegrityError

from backend.db import database
from backend.lookups import TTLCache
from backend.models import Feedback
from support import make_report


def record(now, **overrides):
    return make_report(when=now, user="device-1", **overrides)


def test_duplicate_window_is_24_hours(catalog):
    start = datetime(2026, 3, 1, 9, 0)
    first = record(start)
    assert record(start + timedelta(hours=23, minutes=59)).feedback_id == first.feedback_id
    later = record(start + timedelta(hours=24, minutes=1))
    assert later.duplicate is False and later.feedback_id != first.feedback_id
    assert Feedback.select().count() == 2


def test_one_report_sent_at_once_from_many_connections_is_stored_once(catalog):
    # The duplicate check reads the customer's reports once it holds their lock: on
    # PostgreSQL sent in the same round trip as the lock, so it must see what the lock's
    # previous holder committed.
    when, start, results = datetime(2026, 3, 1, 9, 0), threading.Barrier(8), []

    def send():
        database.connect(reuse_if_open=True)
        try:
            start.wait()
            results.append(record(when))
        finally:
            database.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result.duplicate for result in results) == [False] + [True] * 7
    assert len({result.feedback_id for result in results}) == 1
    assert Feedback.select().count() == 1


def test_a_report_the_database_refuses_leaves_nothing_behind_and_the_next_is_stored(catalog):
    # On PostgreSQL the INSERT goes with the COMMIT: when it fails, the transaction (and the
    # customer's lock) must still end, on a connection the next report can use.
    when = datetime(2026, 3, 1, 9, 0)
    with pytest.raises(IntegrityError):
        record(when, client_id=999_999)  # no such client: the foreign key refuses it
    assert not database.in_transaction()
    assert record(when).duplicate is False
    assert Feedback.select().count() == 1


def test_offer_status_uses_the_report_time(catalog):
    assert record(datetime(2020, 6, 1), offer="OF3").offer_status == "active"
    assert record(datetime(2021, 6, 1), offer="OF3").offer_status == "expired"


def test_merchant_level_report_without_outlet(catalog):
    result = record(datetime(2026, 3, 1), outlet=None)
    stored = Feedback.get()
    assert (result.verdict, stored.outlet_id, stored.merchant.code) == ("outlet_location_unknown", None, "M1")
    assert record(datetime(2026, 3, 1, 1), outlet=None).duplicate is True


def test_outlet_radius_overrides_default(catalog):
    result = record(datetime(2026, 3, 1), offer="OF6", outlet="O3", position=(12.9372, 77.6245))
    assert (result.verdict, result.radius_m) == ("at_outlet", 300)


def test_ttl_cache_keeps_hits_for_its_lifetime_and_never_misses():
    clock = [0.0]
    cache = TTLCache(5, clock=lambda: clock[0])
    loads = []
    assert cache.get("k", lambda: loads.append(1) or None) is None
    assert cache.get("k", lambda: loads.append(1) or "v1") == "v1"
    assert cache.get("k", lambda: "v2") == "v1"
    assert cache.get("k", lambda: "v3", fresh=True) == "v3"
    assert cache.get("k", lambda: "v4") == "v3"
    clock[0] = 5.1
    assert cache.get("k", lambda: "v5") == "v5"
    assert len(loads) == 2


def test_ttl_cache_holds_a_bounded_number_of_items():
    cache = TTLCache(60, max_items=3)
    for n in range(5):
        cache.get(n, lambda n=n: f"v{n}")
    assert cache.get(0, lambda: "reloaded") == "reloaded"  # the oldest went
    assert cache.get(4, lambda: "reloaded") == "v4" and len(cache._items) == 3


def test_feedback_types_are_named_by_their_catalogue_spelling(catalog):
    from backend.lookups import Lookups

    lookups = Lookups(60, 0)
    assert lookups.feedback_type("1").id == 1 and lookups.feedback_type("merchant_declined").id == 1
    assert [lookups.feedback_type(ref) for ref in ("01", "１", "1.0", " 1")] == [None] * 4
