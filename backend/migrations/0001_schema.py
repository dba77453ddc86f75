"""The tables as the first versioned release has them (copied from backend/models.py then).

A copy, not an import: later migrations change the models, and this one must create
the same tables for ever. backend/models.py explains each table and column.
"""
from peewee import (
    BigIntegerField,
    BooleanField,
    Check,
    CharField,
    CompositeKey,
    DateField,
    DateTimeField,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
)

from backend.db import database


class BaseModel(Model):
    class Meta:
        database = database


class Network(BaseModel):
    code = CharField(unique=True, max_length=64)
    name = CharField(max_length=200)


class Bank(BaseModel):
    code = CharField(unique=True, max_length=64)
    name = CharField(max_length=200)
    network = ForeignKeyField(Network, null=True)


class Merchant(BaseModel):
    code = CharField(unique=True, max_length=64)
    name = CharField(max_length=200)
    category = CharField(null=True, max_length=100)


class Outlet(BaseModel):
    code = CharField(unique=True, max_length=64)
    merchant = ForeignKeyField(Merchant)
    name = CharField(max_length=200)
    address = CharField(null=True, max_length=500)
    city = CharField(max_length=100)
    latitude = DoubleField(null=True)
    longitude = DoubleField(null=True)
    radius_m = IntegerField(null=True)


class Offer(BaseModel):
    code = CharField(unique=True, max_length=64)
    title = CharField(max_length=300)
    bank = ForeignKeyField(Bank, null=True)
    network = ForeignKeyField(Network, null=True)
    merchant = ForeignKeyField(Merchant)
    valid_from = DateField()
    valid_to = DateField()

    class Meta:
        constraints = [Check("(bank_id IS NULL) <> (network_id IS NULL)")]


class FeedbackType(BaseModel):
    id = IntegerField(primary_key=True)
    slug = CharField(unique=True, max_length=64)
    label = CharField(max_length=200)
    active = BooleanField(default=True)


class Client(BaseModel):
    clientkey = CharField(unique=True, max_length=64)
    name = CharField(max_length=200)
    bank = ForeignKeyField(Bank, null=True)
    network = ForeignKeyField(Network, null=True)
    pass_digest = CharField(max_length=64)
    created_at = DateTimeField()
    widget_key = CharField(unique=True, null=True, max_length=64)
    widget_secret = CharField(null=True, max_length=64)
    widget_origins = TextField(default="")

    class Meta:
        constraints = [Check("(bank_id IS NULL) <> (network_id IS NULL)")]


class ApiKey(BaseModel):
    client = ForeignKeyField(Client)
    key_id = CharField(unique=True, max_length=32)
    digest = CharField(max_length=64)
    created_at = DateTimeField()
    revoked_at = DateTimeField(null=True)


class Feedback(BaseModel):
    public_id = CharField(max_length=32)
    channel = CharField(max_length=16)
    client = ForeignKeyField(Client, null=True, index=False)
    bank = ForeignKeyField(Bank, index=False)
    offer = ForeignKeyField(Offer, index=False)
    merchant = ForeignKeyField(Merchant, index=False)
    outlet = ForeignKeyField(Outlet, null=True, index=False)
    feedback_type = ForeignKeyField(FeedbackType, index=False)
    user_id = CharField(max_length=254)
    latitude = DoubleField(null=True)
    longitude = DoubleField(null=True)
    accuracy_m = DoubleField(null=True)
    distance_m = IntegerField(null=True)
    radius_m = IntegerField()
    verdict = CharField(max_length=32)
    offer_status = CharField(max_length=16)
    comment = TextField(default="")
    created_at = DateTimeField()
    received_at = DateTimeField(null=True)
    outlet_inferred = BooleanField(default=False)
    ip_hash = CharField(null=True, max_length=64)
    device_hash = CharField(null=True, max_length=64)
    anonymous = BooleanField(default=False)
    new_customer = BooleanField(default=False)
    repeat_visit = BooleanField(default=False)
    suspicion = CharField(max_length=64, default="")
    uncounted = BooleanField(default=False)

    class Meta:
        indexes = (
            (("bank", "user_id", "created_at"), False),
            (("merchant", "created_at", "bank", "outlet"), False),
        )


Feedback.add_index(Feedback.index(Feedback.ip_hash, Feedback.created_at, where=Feedback.ip_hash.is_null(False)))
Feedback.add_index(Feedback.index(Feedback.bank, Feedback.device_hash, Feedback.created_at,
                                  where=Feedback.device_hash.is_null(False), name="feedback_device"))
Feedback.add_index(Feedback.index(Feedback.id, where=Feedback.uncounted == True, name="feedback_uncounted"))  # noqa: E712


class CustomerDay(BaseModel):
    merchant = ForeignKeyField(Merchant, index=False)
    day = DateField()
    bank = ForeignKeyField(Bank, index=False)
    user_id = CharField(max_length=254)
    network = ForeignKeyField(Network, null=True, index=False)
    anonymous = BooleanField(default=False)
    new_customer = BooleanField(default=False)
    discounted = BooleanField(default=False)

    class Meta:
        primary_key = CompositeKey("merchant", "day", "bank", "user_id")


class SourceDay(BaseModel):
    merchant = ForeignKeyField(Merchant, index=False)
    day = DateField()
    bank = ForeignKeyField(Bank, index=False)
    source = CharField(max_length=80)

    class Meta:
        primary_key = CompositeKey("merchant", "day", "bank", "source")


class MerchantDay(BaseModel):
    scope = CharField(max_length=32)
    day = DateField()
    merchant = ForeignKeyField(Merchant, index=False)
    feedback_type = IntegerField()
    city = CharField(max_length=100)
    reports = IntegerField(default=0)
    customer_days = IntegerField(default=0)
    score = BigIntegerField(default=0)
    verified_reports = IntegerField(default=0)
    verified_customer_days = IntegerField(default=0)
    verified_score = BigIntegerField(default=0)
    unverified_customer_days = IntegerField(default=0)
    away_customer_days = IntegerField(default=0)
    discounted_customer_days = IntegerField(default=0)
    expired_claims = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("scope", "feedback_type", "city", "day", "merchant")


class AdminUser(BaseModel):
    email = CharField(unique=True, max_length=254)
    password_hash = CharField(max_length=255)
    bank = ForeignKeyField(Bank, null=True)
    network = ForeignKeyField(Network, null=True)
    failed_logins = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    created_at = DateTimeField()
    disabled_at = DateTimeField(null=True)


class AdminSession(BaseModel):
    token_hash = CharField(unique=True, max_length=64)
    admin = ForeignKeyField(AdminUser, on_delete="CASCADE")
    created_at = DateTimeField()
    last_seen_at = DateTimeField()


MODELS = [Network, Bank, Merchant, Outlet, Offer, FeedbackType, Client, ApiKey, Feedback, CustomerDay, SourceDay,
          MerchantDay, AdminUser, AdminSession]
COUNTER_MODELS = (CustomerDay, SourceDay, MerchantDay)


def create_missing_tables():
    """Create the tables (and their indexes) that are not there yet."""
    # On SQLite the counters' key is the table itself (one b-tree per row, not two): half
    # the writes per report. PostgreSQL has no such option.
    for model in COUNTER_MODELS:
        model._meta.without_rowid = isinstance(database.obj, SqliteDatabase)
    database.create_tables(MODELS, safe=True)


def upgrade(migrator):
    create_missing_tables()
