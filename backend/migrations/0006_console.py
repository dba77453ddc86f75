"""The self-service console: an admin's role, when each API key was last used, and the
one-time links that set an admin's password (an invitation or a reset).

Admins made before roles existed keep every power they had: their role is "admin".
"""
from pathlib import Path

from peewee import CharField, DateTimeField, ForeignKeyField

from backend.db import database
from backend.migrations import load

schema = load(Path(__file__).with_name("0001_schema.py"))
BaseModel, AdminUser = schema.BaseModel, schema.AdminUser


# A copy of the model as this migration was written: it must make the same table for ever.
class PasswordLink(BaseModel):
    token_hash = CharField(unique=True, max_length=64)
    admin = ForeignKeyField(AdminUser, on_delete="CASCADE")
    purpose = CharField(max_length=16)
    created_at = DateTimeField()
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)


def upgrade(migrator):
    from playhouse.migrate import migrate

    # A database counted as made before migrations (0002) may have them already.
    for table, column, field in (("adminuser", "role", CharField(max_length=16, default="admin")),
                                 ("apikey", "last_used_at", DateTimeField(null=True))):
        if column not in {c.name for c in database.get_columns(table)}:
            migrate(migrator.add_column(table, column, field))
    database.create_tables([PasswordLink])
