"""Every setting in one place, read from the environment (no secret lives in code)."""
import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OFFERS_FEEDBACK_DATA", PROJECT_DIR / "data"))


class Config:
    """Defaults, each overridable by an environment variable of the same name."""

    DATABASE_URL = os.environ.get(
        "DATABASE_URL", f"sqlite:///{DATA_DIR / 'offers_feedback.db'}"
    )
    # Geofence radius for outlets that do not set their own.
    LOCATION_RADIUS_M = int(os.environ.get("LOCATION_RADIUS_M", 150))
    # Same user, offer, outlet and type inside this window count once.
    DUPLICATE_WINDOW_HOURS = int(os.environ.get("DUPLICATE_WINDOW_HOURS", 24))
    # Per-worker caches: a revoked API key stops working within this many seconds.
    CREDENTIAL_CACHE_SECONDS = float(os.environ.get("CREDENTIAL_CACHE_SECONDS", 5))
    CATALOG_CACHE_SECONDS = float(os.environ.get("CATALOG_CACHE_SECONDS", 60))
    # Request bodies and query strings larger than this are refused with 413.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 16 * 1024))
