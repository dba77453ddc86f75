"""Every setting in one place, read from the environment when the app is built."""
import os
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
import secrets
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def data_dir():
    """Where the default SQLite file and demo credentials live."""
    return Path(os.environ.get("OFFERS_FEEDBACK_DATA", PROJECT_DIR / "data"))


# Signs the widget's form tokens and the admin's session cookie: a short key is guessable.
MIN_SECRET_KEY_LENGTH = 32


class SettingsError(Exception):
    """A setting the app must not start with; the message says what to do."""


def private_folder(path):
    """Make path a folder only its owner can enter (0700), creating it if needed."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def private_file(path):
    """Make path a file only its owner can read (0600), creating it empty if needed.

    The data files hold widget secrets, password hashes and customers' reports; SQLite
    gives its WAL and shared-memory files the database file's mode.
    """
    path = Path(path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path


def secret_key(name="SECRET_KEY", file_name="secret_key"):
    """A key from the environment variable name, else one made once and kept in the data
    folder's file_name; SettingsError when it is shorter than MIN_SECRET_KEY_LENGTH."""
    if os.environ.get(name):
        key, source = os.environ[name], name
    else:
        path = private_folder(data_dir()) / file_name
        if not path.exists():
            # Made whole beside it, then linked into place: however many processes start at
            # once, exactly one key wins and nobody reads a file still being written.
            draft = path.with_name(f".{file_name}.{os.getpid()}")
            with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as made:
                made.write(secrets.token_urlsafe(48))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        key, source = path.read_text().strip(), str(path)
    if len(key) < MIN_SECRET_KEY_LENGTH:
        fix = "set it to" if source == name else "delete the file to have one made, or write"
        raise SettingsError(f"{source} holds a secret key of {len(key)} characters: {fix} at least "
                            f"{MIN_SECRET_KEY_LENGTH} random characters.")
    return key


def customer_key():
    """The key customers' ids are pseudonymized with (backend/privacy.py): kept apart from
    the database, as SECRET_KEY is, and apart from it (rotating SECRET_KEY must not split
    every customer in two). Lose it and new reports no longer join their customers' old ones."""
    return secret_key("CUSTOMER_KEY", "customer_key")


def days_setting(name, default):
    """A number of days from 1 to 36,500; SettingsError for anything else (0 or less would
    remove every position or comment at once)."""
    value = os.environ.get(name, str(default))
    if not value.isdigit() or not 1 <= int(value) <= 36_500:
        raise SettingsError(f"{name} must be a number of days from 1 to 36500, not {value!r}.")
    return int(value)


def on_or_off(name, default):
    """A setting that is 1 (on) or 0 (off); SettingsError for anything else ("false" must
    not quietly mean on)."""
    value = os.environ.get(name, default)
    if value not in ("0", "1"):
        raise SettingsError(f"{name} must be 1 (on) or 0 (off), not {value!r}.")
    return value == "1"


READ_WORK_MEM = "32MB"  # PG_READ_WORK_MEM's default


def memory_size(name, default):
    """A PostgreSQL memory size such as 32MB (kB, MB or GB), or 0."""
    value = os.environ.get(name, default)
    if value != "0" and not re.fullmatch(r"[1-9][0-9]{0,6}(kB|MB|GB)", value):
        raise SettingsError(f"{name} must be a size such as 32MB (kB, MB or GB), or 0, not {value!r}.")
    return value


def time_zone(name):
    """An IANA time zone's name, checked."""
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise SettingsError(f"TIME_ZONE must be a time zone such as Asia/Kolkata or UTC, not {name!r}") from None
    return name


def settings():
    """The app's settings: defaults, each overridable by an environment variable of the same name."""
    env = os.environ.get
    return {
        "DATABASE_URL": env("DATABASE_URL", f"sqlite:///{data_dir() / 'offers_feedback.db'}"),
        # Geofence radius for outlets that do not set their own.
        "LOCATION_RADIUS_M": int(env("LOCATION_RADIUS_M", 150)),
        # Same user, offer, outlet and type inside this window count once.
        "DUPLICATE_WINDOW_HOURS": int(env("DUPLICATE_WINDOW_HOURS", 24)),
        # Per-worker caches: a revoked API key stops working within this many seconds.
        "CREDENTIAL_CACHE_SECONDS": float(env("CREDENTIAL_CACHE_SECONDS", 5)),
        "CATALOG_CACHE_SECONDS": float(env("CATALOG_CACHE_SECONDS", 60)),
        # SQLite WAL pages after which a committing request copies them back; `serve`
        # sets 0 and checkpoints from a background thread instead.
        "SQLITE_WAL_AUTOCHECKPOINT": int(env("SQLITE_WAL_AUTOCHECKPOINT", 1000)),
        # 0: no prepared statements on PostgreSQL (behind a pooler in transaction mode).
        "PG_PREPARED_STATEMENTS": on_or_off("PG_PREPARED_STATEMENTS", "1"),
        # Memory each of the leaderboard's aggregates may use on PostgreSQL (db.large_reads); 0: the server's.
        "PG_READ_WORK_MEM": memory_size("PG_READ_WORK_MEM", READ_WORK_MEM),
        # Request bodies and query strings larger than this are refused with 413.
        "MAX_CONTENT_LENGTH": int(env("MAX_CONTENT_LENGTH", 16 * 1024)),
        # Signs the widget's form tokens; every web worker must share it.
        "SECRET_KEY": secret_key(),
        # Keys the pseudonyms customers' ids are stored as; every app host must share it.
        "CUSTOMER_KEY": customer_key(),
        # Privacy: a report's precise position is kept this many days, its comment this many (then removed).
        "KEEP_COORDINATES_DAYS": days_setting("KEEP_COORDINATES_DAYS", 30),
        "KEEP_COMMENTS_DAYS": days_setting("KEEP_COMMENTS_DAYS", 365),
        # How long a widget form stays usable after the frame loaded.
        "WIDGET_TOKEN_SECONDS": int(env("WIDGET_TOKEN_SECONDS", 30 * 60)),
        # Widget reports allowed per hour from one device (or signed user) and from one IP.
        "WIDGET_REPORTS_PER_DEVICE_HOUR": int(env("WIDGET_REPORTS_PER_DEVICE_HOUR", 10)),
        "WIDGET_REPORTS_PER_IP_HOUR": int(env("WIDGET_REPORTS_PER_IP_HOUR", 30)),
        # Proxies in front of the server (load balancer, nginx): the client's address and
        # scheme are read from the X-Forwarded-For/-Proto entries this many proxies added.
        # 0 ignores those headers (anyone can send them), for a server reached directly.
        "PROXIES": int(env("PROXIES", 0)),
        # Admin sessions: the cookie is never readable by scripts nor sent by other sites' forms.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env("SESSION_COOKIE_SECURE", "") == "1",  # set 1 behind HTTPS
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        # An admin session ends after this many minutes without a request (and 8 hours after login).
        "ADMIN_IDLE_MINUTES": float(env("ADMIN_IDLE_MINUTES", 30)),
        # The job runner (backend/jobs.py): 0 stops `serve` starting it (run `run.py worker` instead).
        "JOBS": on_or_off("JOBS", "1"),
        # Every audience's flags are evaluated this often; new alerts go out right after.
        "FLAG_EVALUATION_SECONDS": float(env("FLAG_EVALUATION_SECONDS", 30)),
        # Deliveries due (retries among them) are looked for this often.
        "DELIVERY_POLL_SECONDS": float(env("DELIVERY_POLL_SECONDS", 5)),
        # A failed delivery is tried again after this, then twice as long each time (at most an hour), for a day.
        "WEBHOOK_RETRY_SECONDS": float(env("WEBHOOK_RETRY_SECONDS", 30)),
        "WEBHOOK_TIMEOUT_SECONDS": float(env("WEBHOOK_TIMEOUT_SECONDS", 10)),
        # 1: webhooks may call private, loopback and link-local addresses (a receiver on the
        # same network); else only public ones.
        "WEBHOOK_PRIVATE_NETWORKS": on_or_off("WEBHOOK_PRIVATE_NETWORKS", "0"),
        # E-mail alerts: smtp://host:port, smtp+starttls://user:password@host:587 or smtps://...
        "SMTP_URL": env("SMTP_URL", ""),
        "MAIL_FROM": env("MAIL_FROM", "Offers Feedback <alerts@localhost>"),
        "DIGEST_HOUR": int(env("DIGEST_HOUR", 3)),  # UTC: 08:30 in India
        # A case's first action is due this many days after it opened (the CFPB's 15).
        "CASE_DUE_DAYS": int(env("CASE_DUE_DAYS", 15)),
        # Admin pages show times in this zone (named beside them); stored times are UTC.
        "TIME_ZONE": time_zone(env("TIME_ZONE", "Asia/Kolkata")),
        # The address admins reach the server at (https://feedback.example.com), for links in alerts.
        "PUBLIC_URL": env("PUBLIC_URL", "").rstrip("/"),
    }
