"""The audit log: every admin action, appended (nothing updates or deletes an entry)."""
from .accounts import admin_scope
from .models import AuditEntry, utcnow


def record_audit(admin, email, scope, action, detail, now):
    """Append an entry: admin (None for the command line or an unknown e-mail), the e-mail
    as known or typed, the audience it acted in, what it did (a dotted name) and details."""
    return AuditEntry.create(at=now, admin=admin, email=(email if admin is None else admin.email)[:254], scope=scope,
                             action=action, detail=detail[:2000])


def audit_admin(admin, action, detail=""):
    """Append an admin's action, now, in its own audience's log."""
    return record_audit(admin, None, admin_scope(admin), action, detail, utcnow())


def audit_entries(scope):
    """Newest first: everything for the platform ("all"), else the audience's own entries."""
    query = AuditEntry.select().order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return query if scope == "all" else query.where(AuditEntry.scope == scope)
