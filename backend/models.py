"""The data model: catalogue, clients and their keys, feedback reports."""
from datetime import datetime, timezone

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
    TextField,
)

from .db import database
from .migrations import apply_migrations


def utcnow():
    """Current UTC time as a naive datetime, the form every timestamp is stored in."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database


class Network(BaseModel):
    code = CharField(unique=True, max_length=64)
    name = CharField(max_length=200)


class Bank(BaseModel):
    code = CharField(unique=True, max_length=64)
    name = CharField(max_length=200)
    network = ForeignKeyField(Network, null=True, backref="banks")


class Merchant(BaseModel):
    code = CharField(unique=True, max_length=64)
    name = CharField(max_length=200)
    category = CharField(null=True, max_length=100)


class Outlet(BaseModel):
    code = CharField(unique=True, max_length=64)
    merchant = ForeignKeyField(Merchant, backref="outlets")
    name = CharField(max_length=200)
    address = CharField(null=True, max_length=500)
    city = CharField(max_length=100)
    # Both null when the outlet's position is not known.
    latitude = DoubleField(null=True)
    longitude = DoubleField(null=True)
    radius_m = IntegerField(null=True)  # geofence; null means the configured default


class Offer(BaseModel):
    code = CharField(unique=True, max_length=64)
    title = CharField(max_length=300)
    # Powered by exactly one bank or one network.
    bank = ForeignKeyField(Bank, null=True, backref="offers")
    network = ForeignKeyField(Network, null=True, backref="offers")
    merchant = ForeignKeyField(Merchant, backref="offers")
    valid_from = DateField()
    valid_to = DateField()

    class Meta:
        constraints = [Check("(bank_id IS NULL) <> (network_id IS NULL)")]

    def status_on(self, day):
        """Say whether the offer was active, expired or not yet started on day."""
        if day < self.valid_from:
            return "not_started"
        if day > self.valid_to:
            return "expired"
        return "active"

    def powered_for(self, bank):
        """True when this offer is one that bank's customers can use."""
        if self.bank_id is not None:
            return self.bank_id == bank.id
        return self.network_id == bank.network_id

    @classmethod
    def usable_by(cls, bank_id=None, network_id=None):
        """powered_for as an SQL condition: the offers a bank's customers can use, or, for a
        network (network_id alone), those of the network and of every bank on it."""
        if bank_id is not None:  # a bank without a network: "network IN (NULL)" matches nothing
            return (cls.bank == bank_id) | cls.network.in_(Bank.select(Bank.network).where(Bank.id == bank_id))
        return (cls.network == network_id) | cls.bank.in_(Bank.select(Bank.id).where(Bank.network == network_id))


class FeedbackType(BaseModel):
    id = IntegerField(primary_key=True)
    slug = CharField(unique=True, max_length=64)
    label = CharField(max_length=200)
    active = BooleanField(default=True)


DEFAULT_FEEDBACK_TYPES = [
    (1, "merchant_declined", "Merchant declined the offer"),
    (2, "offer_expired", "Told the offer has expired"),
    (3, "discount_not_applied", "Discount not applied to the bill"),
    (4, "staff_unaware", "Staff did not know about the offer"),
    (5, "other", "Something else went wrong"),
]


class Client(BaseModel):
    """A bank or network calling the API; clientkey is public, the rest are secrets."""

    clientkey = CharField(unique=True, max_length=64)
    name = CharField(max_length=200)
    bank = ForeignKeyField(Bank, null=True, backref="clients")
    network = ForeignKeyField(Network, null=True, backref="clients")
    pass_digest = CharField(max_length=64)
    created_at = DateTimeField()
    # The embeddable widget: a public key, the secret banks sign customer ids with (kept
    # as is, since checking an HMAC needs it), and the page origins allowed to embed it.
    widget_key = CharField(unique=True, null=True, max_length=64)
    widget_secret = CharField(null=True, max_length=64)
    widget_origins = TextField(default="")  # space-separated; none means the widget is off

    def allowed_origins(self):
        """The page origins that may embed this client's widget."""
        return self.widget_origins.split()

    class Meta:
        constraints = [Check("(bank_id IS NULL) <> (network_id IS NULL)")]


class ApiKey(BaseModel):
    client = ForeignKeyField(Client, backref="api_keys")
    key_id = CharField(unique=True, max_length=32)  # public handle for rotation
    digest = CharField(max_length=64)
    created_at = DateTimeField()
    revoked_at = DateTimeField(null=True)
    # When a request last used it, to the minute (each worker writes it at most once a minute).
    last_used_at = DateTimeField(null=True)


class Feedback(BaseModel):
    """One customer report, stored with its location verdict and the evidence it carries.

    Foreign keys carry no index of their own: every index costs each report a write, and
    the queries use the composite indexes below. Everything the leaderboard weighs a report
    by is judged when it arrives and stored here, so a recount gives the same counters.
    """

    # Opaque, random (64 bits): nothing looks a report up by it, so it has no index, which
    # would cost every report a write at a random place (migrations/0002 drops an old one).
    public_id = CharField(max_length=32)
    channel = CharField(max_length=16)  # api, widget or import
    client = ForeignKeyField(Client, null=True, backref="reports", index=False)
    bank = ForeignKeyField(Bank, backref="reports", index=False)
    offer = ForeignKeyField(Offer, backref="reports", index=False)
    merchant = ForeignKeyField(Merchant, backref="reports", index=False)
    outlet = ForeignKeyField(Outlet, null=True, backref="reports", index=False)
    feedback_type = ForeignKeyField(FeedbackType, backref="reports", index=False)
    # The bank's identifier of its customer: (bank, user_id) is one customer.
    user_id = CharField(max_length=254)
    # Double precision: PostgreSQL's "real" (peewee's FloatField) keeps 6 digits, metres.
    latitude = DoubleField(null=True)
    longitude = DoubleField(null=True)
    accuracy_m = DoubleField(null=True)
    distance_m = IntegerField(null=True)
    radius_m = IntegerField()
    verdict = CharField(max_length=32)
    offer_status = CharField(max_length=16)
    comment = TextField(default="")
    created_at = DateTimeField()  # when it happened (reported_at for delayed and historic reports)
    received_at = DateTimeField(null=True)  # when it reached us, if a minute or more later
    # Widget reports without an outlet: True when the nearest outlet was taken as it.
    outlet_inferred = BooleanField(default=False)
    ip_hash = CharField(null=True, max_length=64)  # keyed hash of the customer's IP (widget, or API client_ip)
    device_hash = CharField(null=True, max_length=64)  # keyed hash of an API report's device_id
    # An unsigned widget device id: nobody vouches for who it is.
    anonymous = BooleanField(default=False)
    # The customer's first report at this bank (judged when it arrived).
    new_customer = BooleanField(default=False)
    # The customer reported at this merchant on another day in the 30 days before, or on 3 days
    # in the year before (feedback.REPEAT_WINDOW).
    repeat_visit = BooleanField(default=False)
    # Why a position that looked at the outlet does not verify it: "exact_position",
    # "impossible_travel" (comma-separated), or "".
    suspicion = CharField(max_length=64, default="")
    # True from when the report is stored until the leaderboard counters include it
    # (rollups.count_pending); rows made before this column existed were counted already.
    uncounted = BooleanField(default=False)

    class Meta:
        indexes = (
            # A customer's reports in time: the duplicate rule, travel checks, per-device limits.
            (("bank", "user_id", "created_at"), False),
            # A merchant's reports in a period, for an audience (its page, exports, outlets affected).
            (("merchant", "created_at", "bank", "outlet"), False),
        )


# Partial indexes: API reports without client_ip or device_id carry no hash, and few
# reports wait to be counted, so none of them costs most reports a write.
Feedback.add_index(Feedback.index(Feedback.ip_hash, Feedback.created_at, where=Feedback.ip_hash.is_null(False)))
Feedback.add_index(Feedback.index(Feedback.bank, Feedback.device_hash, Feedback.created_at,
                                  where=Feedback.device_hash.is_null(False), name="feedback_device"))
Feedback.add_index(Feedback.index(Feedback.id, where=Feedback.uncounted == True, name="feedback_uncounted"))  # noqa: E712


class CustomerDay(BaseModel):
    """A customer's first report at a merchant on a day: they count once per merchant per day.

    A customer is (bank, user_id). discounted: the day was not counted in the score because
    it is a repeat visit, a brand-new customer's with a spoofed-looking position, its IP or device already carried
    another customer there that day, or it came beyond the day's allowance of brand-new
    customers (rollups.Tally).
    """

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
    """An IP or device that carried a customer-day at a merchant on a day, for one bank; or
    one of that day's few places for brand-new customers or anonymous devices, taken."""

    merchant = ForeignKeyField(Merchant, index=False)
    day = DateField()
    bank = ForeignKeyField(Bank, index=False)
    source = CharField(max_length=80)  # "ip:<hash>", "device:<hash>", "new-customer-place:2", ...

    class Meta:
        primary_key = CompositeKey("merchant", "day", "bank", "source")


class MerchantDay(BaseModel):
    """Counters per merchant and day for each audience, brought up to date by rollups.count_pending.

    scope: "all", "bank:<id>" or "network:<id>"; feedback_type 0 and city "" mean any.
    Customer-days: verified + unverified + away = customer_days; discounted ones come apart.
    """

    scope = CharField(max_length=32)
    day = DateField()
    merchant = ForeignKeyField(Merchant, index=False)
    feedback_type = IntegerField()
    city = CharField(max_length=100)
    reports = IntegerField(default=0)
    customer_days = IntegerField(default=0)
    # Weighted customer-days in units of 1/80 (rollups.SCORE_UNITS): whole numbers add up
    # exactly in any order.
    score = BigIntegerField(default=0)
    verified_reports = IntegerField(default=0)
    verified_customer_days = IntegerField(default=0)
    verified_score = BigIntegerField(default=0)
    unverified_customer_days = IntegerField(default=0)
    away_customer_days = IntegerField(default=0)
    discounted_customer_days = IntegerField(default=0)
    # Bank-vouched customers verified at the outlet who were told an active offer expired.
    expired_claims = IntegerField(default=0)

    class Meta:
        # Filters pick scope, type and city exactly; the period is then one range of days.
        primary_key = CompositeKey("scope", "feedback_type", "city", "day", "merchant")
        # The rows shown: a few merchants' days in a period (migrations/0003).
        indexes = ((("merchant", "scope", "city", "feedback_type", "day"), False),)


class MerchantCustomer(BaseModel):
    """A customer's last counted (not discounted) day at a merchant: rollups keeps it, so
    that CustomersByLastDay can move the customer from their last day to the next."""

    merchant = ForeignKeyField(Merchant, index=False)
    bank = ForeignKeyField(Bank, index=False)
    user_id = CharField(max_length=254)
    anonymous = BooleanField(default=False)
    day = DateField()

    class Meta:
        primary_key = CompositeKey("merchant", "bank", "user_id", "anonymous")


class CustomersByLastDay(BaseModel):
    """How many customers of a bank had their last counted day at a merchant on a day: the
    distinct customers of a period that runs to today are those whose last day is in it,
    a sum of a few rows per merchant and day instead of a count of their customer-days
    (ranking._distinct_customers; migrations/0004)."""

    merchant = ForeignKeyField(Merchant, index=False)
    day = DateField()
    bank = ForeignKeyField(Bank, index=False)
    anonymous = BooleanField(default=False)
    customers = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("merchant", "day", "bank", "anonymous")


class AdminUser(BaseModel):
    """Someone who reads the leaderboard: ours (platform), or a bank's or network's."""

    email = CharField(unique=True, max_length=254)
    password_hash = CharField(max_length=255)
    bank = ForeignKeyField(Bank, null=True)
    network = ForeignKeyField(Network, null=True)  # neither: platform-wide
    failed_logins = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    created_at = DateTimeField()
    # Set: the account cannot log in and has no sessions (run.py disable-admin / enable-admin).
    disabled_at = DateTimeField(null=True)
    # viewer reads; analyst also works on cases; admin also manages keys, users and webhooks.
    role = CharField(max_length=16, default="admin")


class AdminSession(BaseModel):
    """A logged-in admin browser: its cookie carries the token, the table only its SHA-256
    hash (a copy of the table logs nobody in). Deleting the row ends the session."""

    token_hash = CharField(unique=True, max_length=64)
    admin = ForeignKeyField(AdminUser, backref="sessions", on_delete="CASCADE")
    created_at = DateTimeField()
    last_seen_at = DateTimeField()


class PasswordLink(BaseModel):
    """A one-time link that sets an admin's password: an invitation or a reset. Only the
    token's SHA-256 hash is kept; using it, or a newer link, ends it."""

    token_hash = CharField(unique=True, max_length=64)
    admin = ForeignKeyField(AdminUser, on_delete="CASCADE")
    purpose = CharField(max_length=16)  # "invite" or "reset"
    created_at = DateTimeField()
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)


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


class KeyCheck(BaseModel):
    """Check values of keys kept outside the database (privacy.check_customer_key): never a key."""

    name = CharField(primary_key=True, max_length=64)
    value = CharField(max_length=64)


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


MODELS = [Network, Bank, Merchant, Outlet, Offer, FeedbackType, Client, ApiKey, Feedback, CustomerDay, SourceDay,
          MerchantDay, MerchantCustomer, CustomersByLastDay, AdminUser, AdminSession, PasswordLink, MerchantFlag, FlagChange, Case,
          CaseAction, Webhook, EmailSubscription, Event, Delivery, KeyCheck, AuditEntry]


def create_tables(report=lambda line: None):
    """Bring the database to the current schema (the migrations in backend/migrations/ not
    applied yet; report(line) hears of each) and add the default feedback types; safe to repeat."""
    apply_migrations(report=report)
    for type_id, slug, label in DEFAULT_FEEDBACK_TYPES:
        FeedbackType.insert(id=type_id, slug=slug, label=label).on_conflict_ignore().execute()
