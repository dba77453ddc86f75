"""Admin accounts: slow password hashes, lock-out after repeated failures, scopes."""
from datetime import timedelta

from peewee import Case
from werkzeug.security import check_password_hash, generate_password_hash

from .models import AdminUser, Bank, Network

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
# Checked against when the e-mail is unknown, so that every refusal costs one hash check,
# as a wrong password does: the answer's timing reveals nothing.
_DUMMY_HASH = generate_password_hash("not a password")


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


def create_admin(email, password, scope, now):
    """Create (or reset the password and scope of) an admin."""
    if len(password) < 10:
        raise ValueError("the password must have at least 10 characters")
    bank, network = parse_scope(scope)
    admin = AdminUser.get_or_none(AdminUser.email == email.lower()) or AdminUser(email=email.lower(), created_at=now)
    admin.password_hash = generate_password_hash(password)
    admin.bank, admin.network, admin.failed_logins, admin.locked_until = bank, network, 0, None
    admin.save()
    return admin


def authenticate(email, password, now):
    """The admin for these credentials, else None; counts failures and locks the account out.

    Every call checks one password hash (the dummy one for unknown e-mails),
    and decides on a locked account only after it: each path takes the hash's time.
    """
    admin = AdminUser.get_or_none(AdminUser.email == (email or "").lower())
    matches = check_password_hash(admin.password_hash if admin else _DUMMY_HASH, password or "")
    if admin is None:
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
