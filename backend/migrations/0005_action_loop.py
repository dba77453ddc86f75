"""The action loop's tables: flags as last evaluated and their history, cases and their
actions, webhooks, e-mail subscriptions, events with their deliveries (the outbox), and
the audit log (backend/models.py explains each). New tables only: nothing to convert.
"""
from pathlib import Path

from peewee import BooleanField, CharField, CompositeKey, DateTimeField, DoubleField, ForeignKeyField, IntegerField, TextField

from backend.db import database
from backend.migrations import load

schema = load(Path(__file__).with_name("0001_schema.py"))
BaseModel, Merchant, AdminUser = schema.BaseModel, schema.Merchant, schema.AdminUser

# A copy of the models as this migration was written: it must make the same tables for ever.
class MerchantFlag(BaseModel):
    """A merchant's flag on an audience's leaderboard as the last evaluation found it
    (cases.evaluate_flags); FlagChange keeps every change."""

    scope = CharField(max_length=32)
    merchant = ForeignKeyField(Merchant, index=False)
    flag = CharField(max_length=32)  # "", "needs_training" or "fraud_watch"
    level = DoubleField(default=0)  # weighted customer-days in the last 7 days
    since = DateTimeField()

    class Meta:
        primary_key = CompositeKey("scope", "merchant")


class FlagChange(BaseModel):
    """A merchant's flag changed on an audience's leaderboard, with the reasons."""

    scope = CharField(max_length=32)
    merchant = ForeignKeyField(Merchant)
    changed_at = DateTimeField()
    flag = CharField(max_length=32)
    previous_flag = CharField(max_length=32)
    level = DoubleField(default=0)
    reasons = TextField(default="")  # one per line


class Case(BaseModel):
    """One merchant on one audience's leaderboard (a bank's, a network's or the platform's)
    that an admin (or a new fraud_watch) opened: what was done, and whether it helped."""

    scope = CharField(max_length=32)
    merchant = ForeignKeyField(Merchant)
    state = CharField(max_length=16, default="open")  # open, in_progress, resolved
    reopened = BooleanField(default=False)  # reopened by itself on a regression
    opened_at = DateTimeField()
    opened_by = ForeignKeyField(AdminUser, null=True)  # null: opened by a fraud_watch
    owner = ForeignKeyField(AdminUser, null=True)
    due_at = DateTimeField()  # for the first action
    overdue_at = DateTimeField(null=True)  # when it was found overdue (case.overdue sent)
    flag_level = DoubleField(default=0)  # the level that flagged it: a regression rises above it
    resolved_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("scope", "merchant"), False),)


class CaseAction(BaseModel):
    """What happened to a case: an action taken, a note, or a change of state."""

    case = ForeignKeyField(Case, backref="actions", on_delete="CASCADE")
    kind = CharField(max_length=32)
    author = ForeignKeyField(AdminUser, null=True)  # null: the system
    at = DateTimeField()
    note = TextField(default="")


class Webhook(BaseModel):
    """An endpoint that receives an audience's events, signed with its secret (Standard Webhooks)."""

    scope = CharField(max_length=32)
    url = CharField(max_length=2000)
    secret = CharField(max_length=100)  # whsec_...: signs, so it is kept (as API secrets' hashes cannot be)
    events = CharField(max_length=500, default="")  # comma-separated; "": every event
    created_at = DateTimeField()
    disabled_at = DateTimeField(null=True)


class EmailSubscription(BaseModel):
    """An admin who hears of the events of its audience by e-mail, each at once or in a daily digest."""

    admin = ForeignKeyField(AdminUser, on_delete="CASCADE", unique=True)
    events = CharField(max_length=500, default="")  # comma-separated; "": every event
    digest = BooleanField(default=False)
    last_digest_at = DateTimeField(null=True)


class Event(BaseModel):
    """Something an audience is told of: recorded in the transaction of the change that
    caused it, with its deliveries (the outbox), so that a crash loses none."""

    public_id = CharField(unique=True, max_length=40)  # the webhook-id of every delivery
    type = CharField(max_length=40)
    scope = CharField(max_length=32)
    created_at = DateTimeField()
    data = TextField()  # JSON


class Delivery(BaseModel):
    """One event to one webhook or one e-mail address: tried until it succeeds, or given up."""

    event = ForeignKeyField(Event, backref="deliveries", on_delete="CASCADE")
    webhook = ForeignKeyField(Webhook, null=True, backref="deliveries", on_delete="CASCADE")
    email = CharField(null=True, max_length=254)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)  # null: nothing more to try
    delivered_at = DateTimeField(null=True)
    given_up_at = DateTimeField(null=True)
    last_result = CharField(default="", max_length=500)  # "HTTP 500", "timed out", ...

    class Meta:
        indexes = ((("next_attempt_at",), False),)


class AuditEntry(BaseModel):
    """An admin action, appended and never changed: who, when, in which audience, what."""

    at = DateTimeField(index=True)  # the platform's log, newest first
    admin = ForeignKeyField(AdminUser, null=True, on_delete="SET NULL")
    email = CharField(max_length=254)  # the admin's then; "cli" for the command line
    scope = CharField(max_length=32)
    action = CharField(max_length=64)
    detail = TextField(default="")

    class Meta:
        indexes = ((("scope", "at"), False),)  # an audience's log, newest first


def upgrade(migrator):
    database.create_tables([MerchantFlag, FlagChange, Case, CaseAction, Webhook, EmailSubscription, Event, Delivery,
                            AuditEntry], safe=True)
