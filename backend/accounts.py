"""Admin accounts: slow password hashes, lock-out after repeated failures, scopes."""
from datetime import timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from .models import AdminUser, Bank, Network

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
# Checked against when the e-mail is unknown, so that case takes as long as a wrong password.
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
    """The admin for these credentials, else None; counts failures and locks the account out."""
    admin = AdminUser.get_or_none(AdminUser.email == (email or "").lower())
    if admin is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if admin.locked_until and admin.locked_until > now:
        return None
    if not check_password_hash(admin.password_hash, password or ""):
        admin.failed_logins += 1
        if admin.failed_logins >= MAX_FAILED_LOGINS:
            admin.locked_until, admin.failed_logins = now + LOCKOUT, 0
        admin.save()
        return None
    admin.failed_logins, admin.locked_until = 0, None
    admin.save()
    return admin


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
