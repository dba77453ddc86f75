"""Per-worker caches for the read-mostly look-ups each API request makes."""
import logging
import threading
import time

from peewee import DatabaseError

from .credentials import load_credentials
from .models import ApiKey, Bank, FeedbackType, Offer, Outlet
from .ranking import outlet_counts

log = logging.getLogger(__name__)


class TTLCache:
    """Remembers found values (never misses) for a number of seconds, at most max_items of
    them (the oldest goes first): keys can come from anyone, one spelling at a time."""

    def __init__(self, seconds, clock=time.monotonic, max_items=10_000):
        self.seconds = seconds
        self.clock = clock
        self.max_items = max_items
        self._items = {}
        self._changing = threading.Lock()  # a worker's threads share the cache

    def get(self, key, load, fresh=False):
        """The cached value for key, else (or when fresh) load(), kept only when not None."""
        now = self.clock()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now and not fresh:
            return hit[1]
        value = load()
        if value is not None and self.seconds > 0:
            with self._changing:
                self._items.pop(key, None)
                if len(self._items) >= self.max_items:
                    del self._items[next(iter(self._items))]
                self._items[key] = (now + self.seconds, value)
        return value


class Lookups:
    """Catalogue rows and client credentials by code, cached per worker.

    Misses are never cached, so new catalogue entries are found at once; a changed or
    revoked entry is seen after at most the cache's lifetime.
    """

    def __init__(self, catalog_seconds, credential_seconds):
        self._catalog = TTLCache(catalog_seconds)
        self._credentials = TTLCache(credential_seconds)
        self._key_minutes = {}  # key_id -> the minute this worker last wrote as its last use

    def key_used(self, key_id, now):
        """Record that an API key was used (the console shows it): to the minute, and
        written at most once a minute per worker, not once per request."""
        minute = now.replace(second=0, microsecond=0)
        if self._key_minutes.get(key_id) == minute:
            return
        if len(self._key_minutes) >= 10_000:
            self._key_minutes.clear()
        self._key_minutes[key_id] = minute
        try:
            ApiKey.update(last_used_at=minute).where(
                ApiKey.key_id == key_id, ApiKey.last_used_at.is_null() | (ApiKey.last_used_at < minute)).execute()
        except DatabaseError:  # a locked database: bookkeeping must not fail the request; next minute, again
            log.warning("Could not record the last use of API key %s", key_id)
            self._key_minutes.pop(key_id, None)

    def credentials(self, clientkey, fresh=False):
        return self._credentials.get(clientkey, lambda: load_credentials(clientkey), fresh)

    def bank(self, code):
        return self._catalog.get(("bank", code), lambda: Bank.get_or_none(Bank.code == code))

    def offer(self, code):
        return self._catalog.get(("offer", code), lambda: Offer.get_or_none(Offer.code == code))

    def outlet(self, code):
        return self._catalog.get(("outlet", code), lambda: Outlet.get_or_none(Outlet.code == code))

    def outlet_counts(self, city=""):
        """{merchant: its outlets (in city, if given)}, for ranking by score per outlet."""
        return self._catalog.get(("outlet_counts", city), lambda: outlet_counts(city))

    def feedback_type(self, ref):
        """A type by numeric id or by slug; retired types are not found."""
        # ASCII digits as written in the catalogue ("1", not "01" or a full-width "１"); longer
        # numbers overflow an SQL integer.
        by_id = ref.isascii() and ref.isdigit() and len(ref) < 10 and ref == str(int(ref))
        where = FeedbackType.id == int(ref) if by_id else FeedbackType.slug == ref
        return self._catalog.get(("type", ref), lambda: FeedbackType.get_or_none(where, FeedbackType.active == True))  # noqa: E712
