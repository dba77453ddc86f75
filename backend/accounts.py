"""Admin accounts: slow password hashes, lock-out after repeated failures, scopes, and
server-side sessions that logout, a password reset or disabling the account end."""
import hashlib
import secrets
from datetime import timedelta

from peewee import Case
from werkzeug.security import check_password_hash, generate_password_hash

from .models import AdminSession, AdminUser, Bank, Network, PasswordLink

# Each role may do what the ones before it may: viewer reads; analyst works on cases;
# admin manages API clients, widget keys, admin users, webhooks, and reads the audit log.
ROLES = ("viewer", "analyst", "admin")
MIN_PASSWORD = 10
# How long a link that sets a password works: a reset is used at once, an invitation may wait.
LINK_LIFETIME = {"reset": timedelta(hours=1), "invite": timedelta(days=7)}

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
# Checked against when the e-mail is unknown or the account disabled, so that every refusal
# costs one hash check, as a wrong password does: the answer's timing reveals nothing.
_DUMMY_HASH = generate_password_hash("not a password")
# A session's last_seen_at is written at most this often (a write per page view costs more).
TOUCH_EVERY = timedelta(minutes=1)


def parse_scope(text):
    """'platform', 'bank:CODE' or 'network:CODE' -> (bank, network); ValueError if unknown."""
    kind, _, code = text.partition(":")
    if text == "platform":
        return None, None
    model = {"bank": Bank, "network": Network}.get(kind)
    found = model.get_or_none(model.code == code) if model and code else None
    if found is None:
        raise ValueError(f"scope must be platform, bank:CODE or network:CODE of the catalogue, not {text!r}")
    return (found, None) if kind == "bank" else (None, found)


def find_admin(email):
    """The admin with this e-mail (any case), or None."""
    return AdminUser.get_or_none(AdminUser.email == (email or "").lower())


def create_admin(email, password, scope, now, role="admin"):
    """Create (or reset the password, scope and role of) an admin; a reset ends its sessions.
    Without a password (an invitation), the account cannot log in until a link sets one."""
    if password is not None and len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    if role not in ROLES:
        raise ValueError(f"the role must be one of {', '.join(ROLES)}, not {role!r}")
    bank, network = parse_scope(scope)
    admin = find_admin(email) or AdminUser(email=email.lower(), created_at=now)
    # An invited account's hash is of a random secret nobody knows: a check costs as much as any.
    admin.password_hash = generate_password_hash(password if password is not None else secrets.token_urlsafe(32))
    admin.bank, admin.network, admin.failed_logins, admin.locked_until, admin.role = bank, network, 0, None, role
    admin.save()
    end_sessions(admin)
    return admin


def has_role(admin, role):
    """True when the admin's role includes role's powers."""
    return ROLES.index(admin.role) >= ROLES.index(role)


def new_password_link(admin, purpose, now):
    """A one-time token that sets admin's password (for the link's path); older links end."""
    token = secrets.token_urlsafe(32)
    PasswordLink.delete().where(PasswordLink.admin == admin.id).execute()
    PasswordLink.create(token_hash=_token_hash(token), admin=admin, purpose=purpose, created_at=now,
                        expires_at=now + LINK_LIFETIME[purpose])
    return token


def password_link(token, now):
    """The unused, unexpired link of this token, with its admin, else None."""
    found = (PasswordLink.select(PasswordLink, AdminUser).join(AdminUser)
             .where(PasswordLink.token_hash == _token_hash(token or "")).first())
    if found is None or found.used_at or found.expires_at <= now or found.admin.disabled_at:
        return None
    return found


def use_password_link(link, password, now):
    """Set the link's admin's password and end the link (and its sessions); False when
    another request used it first."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    claimed = PasswordLink.update(used_at=now).where(PasswordLink.id == link.id, PasswordLink.used_at.is_null()).execute()
    if not claimed:
        return False
    AdminUser.update(password_hash=generate_password_hash(password), failed_logins=0,
                     locked_until=None).where(AdminUser.id == link.admin_id).execute()
    end_sessions(link.admin)
    return True


def set_disabled(email, disabled, now):
    """Disable (ending its sessions) or enable an admin; the admin, or None if unknown."""
    admin = find_admin(email)
    if admin is None:
        return None
    admin.disabled_at = now if disabled else None
    admin.failed_logins, admin.locked_until = 0, None
    admin.save()
    if disabled:
        end_sessions(admin)
        PasswordLink.delete().where(PasswordLink.admin == admin.id).execute()
    return admin


def authenticate(email, password, now):
    """The admin for these credentials, else None; counts failures and locks the account out.

    Every call checks one password hash (the dummy one for unknown or disabled accounts),
    and decides on a locked account only after it: each path takes the hash's time.
    """
    admin = find_admin(email)
    usable = admin is not None and admin.disabled_at is None
    matches = check_password_hash(admin.password_hash if usable else _DUMMY_HASH, password or "")
    if not usable:
        return None
    return admin if _settle_attempt(admin.id, matches, now) else None


def _settle_attempt(admin_id, matches, now):
    """Record a login attempt in one UPDATE, atomic under concurrent attempts on SQLite and
    PostgreSQL alike; False when the account is locked at that moment (nothing recorded).

    A read-then-save lost updates: 7 concurrent wrong guesses got through instead of 5.
    """
    open_now = (AdminUser.id == admin_id) & (AdminUser.locked_until.is_null() | (AdminUser.locked_until <= now))
    if matches:
        return AdminUser.update(failed_logins=0, locked_until=None).where(open_now).execute() == 1
    # After a lock-out has passed, counting starts again; the fifth failure locks (and the
    # count stays at 5 while locked).
    failures = Case(None, [(AdminUser.locked_until.is_null(), AdminUser.failed_logins + 1)], 1)
    AdminUser.update(failed_logins=failures,
                     locked_until=Case(None, [(failures >= MAX_FAILED_LOGINS, now + LOCKOUT)], None)).where(open_now).execute()
    return False


def _token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(admin, now, replacing=None):
    """A new session for admin (ending the one replacing, if any): its token, for the cookie only."""
    if replacing:
        end_session(replacing)
    token = secrets.token_urlsafe(32)
    AdminSession.create(token_hash=_token_hash(token), admin=admin, created_at=now, last_seen_at=now)
    return token


def session_admin(token, now, idle, lifetime):
    """The admin whose session this token is, else None: unknown, ended, idle longer than
    idle, older than lifetime, or its admin disabled. An expired session is deleted."""
    if not token:
        return None
    found = (AdminSession.select(AdminSession, AdminUser).join(AdminUser)
             .where(AdminSession.token_hash == _token_hash(token)).first())
    if found is None:
        return None
    if found.admin.disabled_at or now - found.last_seen_at > idle or now - found.created_at > lifetime:
        AdminSession.delete().where(AdminSession.id == found.id).execute()
        return None
    # A short idle time (tests) needs fresher marks than once a minute.
    if now - found.last_seen_at >= min(TOUCH_EVERY, idle / 10):
        AdminSession.update(last_seen_at=now).where(AdminSession.id == found.id).execute()
    return found.admin


def end_session(token):
    """End the session of this token (logout)."""
    AdminSession.delete().where(AdminSession.token_hash == _token_hash(token)).execute()


def end_sessions(admin):
    """End every session of an admin (password reset, account disabled)."""
    AdminSession.delete().where(AdminSession.admin == admin.id).execute()


def end_expired_sessions(now, idle, lifetime):
    """Delete the sessions nobody can use any more (browsers closed without logging out)."""
    AdminSession.delete().where((AdminSession.last_seen_at < now - idle)
                                | (AdminSession.created_at < now - lifetime)).execute()


def admin_scope(admin):
    """The audience an admin reads as: 'all', 'bank:<id>' or 'network:<id>'."""
    if admin.bank_id:
        return f"bank:{admin.bank_id}"
    if admin.network_id:
        return f"network:{admin.network_id}"
    return "all"


def visible_banks(scope):
    """The banks an audience may filter by."""
    kind, _, key = scope.partition(":")
    query = Bank.select().order_by(Bank.name)
    if kind == "bank":
        return list(query.where(Bank.id == int(key)))
    if kind == "network":
        return list(query.where(Bank.network == int(key)))
    return list(query)
