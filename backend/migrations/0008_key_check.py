"""A check value of CUSTOMER_KEY (never the key): a host started with another key is
refused instead of storing every customer under a second pseudonym (privacy.check_customer_key)."""
from pathlib import Path

from peewee import CharField

from backend.db import database
from backend.migrations import load

BaseModel = load(Path(__file__).with_name("0001_schema.py")).BaseModel


# A copy of the model as this migration was written: it must make the same table for ever.
class KeyCheck(BaseModel):
    name = CharField(primary_key=True, max_length=64)
    value = CharField(max_length=64)


def upgrade(migrator):
    database.create_tables([KeyCheck])
