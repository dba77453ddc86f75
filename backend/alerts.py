"""Alerts: events recorded with the change that caused them (the outbox), delivered to
webhooks signed as Standard Webhooks specifies and to admins by e-mail, retried with
exponential back-off until they succeed or a day has passed. docs/alerts.md is the
bank developer's side.
"""
import base64
import html
import ipaddress
import json
import secrets
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from standardwebhooks.webhooks import Webhook as Signer

from .accounts import admin_scope
from .models import AdminUser, Delivery, EmailSubscription, Event, Webhook

EVENT_TYPES = ("merchant.flagged", "case.opened", "case.regressed", "case.overdue")
RETRY_FOR = timedelta(hours=24)  # a delivery that keeps failing is tried for at least this long
MAX_RETRY_DELAY = timedelta(hours=1)
DUE_PER_RUN = 100


class AlertError(ValueError):
    """A webhook or subscription that cannot be made as asked."""


def admins_of(scope):
    """The (enabled) admins whose audience is scope: 'all', 'bank:<id>' or 'network:<id>'."""
    kind, _, key = scope.partition(":")
    where = {"all": (AdminUser.bank.is_null() & AdminUser.network.is_null()),
             "bank": AdminUser.bank == (int(key) if kind == "bank" else 0),
             "network": AdminUser.network == (int(key) if kind == "network" else 0)}[kind]
    return AdminUser.select().where(where, AdminUser.disabled_at.is_null())


def event_list(events):
    """Event types as stored ("" for all), checked against EVENT_TYPES."""
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise AlertError(f"unknown event {unknown[0]!r}: use one of {', '.join(EVENT_TYPES)}")
    return ",".join(sorted(set(events)))


def wants(events, event_type):
    return not events or event_type in events.split(",")


def check_url(url, private_networks=False):
    """A webhook URL: http(s) with a host; one that resolves to a private, loopback or
    link-local address only where WEBHOOK_PRIVATE_NETWORKS=1 (else an admin could make the
    server call the machines behind it)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000 or not url.isprintable():
        raise AlertError("the URL must be http:// or https:// with a host name")
    if not private_networks:
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
        except (socket.gaierror, UnicodeError):
            raise AlertError(f"the host {parts.hostname} is not found") from None
        if any(not ipaddress.ip_address(address.split("%")[0]).is_global for address in addresses):
            raise AlertError("the URL's host is on a private network (set WEBHOOK_PRIVATE_NETWORKS=1 to allow)")
    return url


def create_webhook(scope, url, events, now, private_networks=False):
    """A new webhook and its secret (whsec_..., shown once to whoever made it)."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    webhook = Webhook.create(scope=scope, url=check_url(url, private_networks), secret=secret,
                             events=event_list(events), created_at=now)
    return webhook, secret


def record_event(event_type, scope, data, now):
    """Record an event and a delivery to each webhook and e-mail subscriber of its scope
    that wants it; call inside the transaction of the change it tells of."""
    event = Event.create(public_id="msg_" + secrets.token_hex(12), type=event_type, scope=scope, created_at=now,
                         data=json.dumps(data, sort_keys=True))
    for webhook in Webhook.select().where(Webhook.scope == scope, Webhook.disabled_at.is_null()):
        if wants(webhook.events, event_type):
            Delivery.create(event=event, webhook=webhook, next_attempt_at=now)
    subscriptions = (EmailSubscription.select(EmailSubscription, AdminUser).join(AdminUser)
                     .where(AdminUser.id.in_(admins_of(scope).select(AdminUser.id)), EmailSubscription.digest == False))  # noqa: E712
    for subscription in subscriptions:
        if wants(subscription.events, event_type):
            Delivery.create(event=event, email=subscription.admin.email, next_attempt_at=now)
    return event


def payload(event):
    """The body every delivery of an event carries: {"type", "timestamp", "data"}."""
    return json.dumps({"type": event.type, "timestamp": event.created_at.isoformat(timespec="seconds") + "Z",
                       "data": json.loads(event.data)}, sort_keys=True)


def signed_headers(secret, event, body):
    """Standard Webhooks' headers: the same webhook-id on every retry, the time of sending
    (receivers refuse old ones: a replay) and its signature."""
    sent_at = datetime.now(timezone.utc)
    return {"webhook-id": event.public_id, "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Signer(secret).sign(event.public_id, sent_at, body), "content-type": "application/json",
            "user-agent": "OffersFeedback-Webhooks/1"}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (a failure), never followed: it could lead anywhere."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def deliver_due(now, config):
    """Try the deliveries whose time has come (the oldest first, some at a time); returns how many were tried."""
    due = list(Delivery.select(Delivery, Event).join(Event)
               .where(Delivery.next_attempt_at <= now).order_by(Delivery.next_attempt_at).limit(DUE_PER_RUN))
    for delivery in due:
        try:
            result = _send(delivery, now, config)
        except Exception as error:  # noqa: BLE001  (whatever went wrong, the delivery is retried)
            result = f"failed: {type(error).__name__}"
        _settle(delivery, result, now, config)
    return len(due)


def _send(delivery, now, config):
    """None when delivered, else what went wrong."""
    event = delivery.event
    if delivery.webhook_id is None:
        send_email(config, delivery.email, *event_message(event, config))
        return None
    webhook = delivery.webhook
    if webhook.disabled_at is not None:
        return "webhook disabled"
    try:  # again: the name may point somewhere else by now
        check_url(webhook.url, config["WEBHOOK_PRIVATE_NETWORKS"])
    except AlertError as error:
        return str(error)[:200]
    body = payload(event)
    request = urllib.request.Request(webhook.url, data=body.encode(), method="POST",
                                     headers=signed_headers(webhook.secret, event, body))
    try:
        with _opener.open(request, timeout=config["WEBHOOK_TIMEOUT_SECONDS"]) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        return "timed out" if isinstance(getattr(error, "reason", error), TimeoutError) else "could not connect"
    return None if 200 <= status < 300 else f"HTTP {status}"


def _settle(delivery, result, now, config):
    delivery.attempts += 1
    delivery.last_result = result or "delivered"
    if result is None:
        delivery.delivered_at, delivery.next_attempt_at = now, None
    elif now - delivery.event.created_at >= RETRY_FOR or result == "webhook disabled":
        delivery.given_up_at, delivery.next_attempt_at = now, None
    else:
        first = timedelta(seconds=config["WEBHOOK_RETRY_SECONDS"])
        delivery.next_attempt_at = now + min(first * 2 ** (delivery.attempts - 1), MAX_RETRY_DELAY)
    delivery.save()


# E-mail.

def event_message(event, config):
    """(subject, plain text, HTML) of one event."""
    data = json.loads(event.data)
    subject, lines = describe(event.type, data)
    link = data.get("url", "")
    text = "\n".join(lines + ([f"\n{link}"] if link else []))
    markup = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    if link:
        markup += f'<p><a href="{html.escape(link)}">{html.escape(link)}</a></p>'
    return f"[Offers Feedback] {subject}", text, f"<!doctype html><html><body>{markup}</body></html>"


def describe(event_type, data):
    """(one-line summary, lines) of an event, in words."""
    name = f"{data.get('merchant_name', '')} ({data.get('merchant_code', '')})"
    if event_type == "merchant.flagged":
        flag = data["flag"].replace("_", " ")
        return f"{name} flagged {flag}", [f"{name} is now flagged {flag} on the {data['scope_name']} leaderboard "
                                          f"(before: {data['previous_flag'].replace('_', ' ') or 'no flag'})."] + [
            f"- {reason}" for reason in data.get("reasons", [])]
    if event_type == "case.opened":
        return f"Case opened: {name}", [f"A case was opened for {name} on the {data['scope_name']} leaderboard "
                                        f"({data['opened_by']}); first action due by {data['due_at']}."]
    if event_type == "case.regressed":
        return f"Case reopened: {name}", [f"The resolved case for {name} reopened by itself: {data['reason']}."]
    return f"Case overdue: {name}", [f"The case for {name} has had no action since it was opened on "
                                     f"{data['opened_at']}; it was due by {data['due_at']}."]


def send_email(config, to, subject, text, markup):
    """Send one message (plain text and HTML) through the SMTP server of SMTP_URL."""
    url = config["SMTP_URL"]
    if not url:
        raise AlertError("no SMTP_URL is set")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = config["MAIL_FROM"], to, " ".join(subject.split())
    message.set_content(text)
    message.add_alternative(markup, subtype="html")
    parts = urlsplit(url)
    timeout = config["WEBHOOK_TIMEOUT_SECONDS"]
    if parts.scheme == "smtps":
        server = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=timeout, context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=timeout)
    with server:
        if parts.scheme == "smtp+starttls":
            server.starttls(context=ssl.create_default_context())
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        server.send_message(message)


def send_digests(now, config):
    """Each digest subscriber's events of the last day (since its last digest), in one e-mail."""
    sent = 0
    for subscription in EmailSubscription.select(EmailSubscription, AdminUser).join(AdminUser).where(
            EmailSubscription.digest == True, AdminUser.disabled_at.is_null()):  # noqa: E712
        admin = subscription.admin
        since = subscription.last_digest_at or now - timedelta(days=1)
        events = [event for event in Event.select().where(Event.scope == admin_scope(admin), Event.created_at > since,
                                                          Event.created_at <= now).order_by(Event.created_at)
                  if wants(subscription.events, event.type)]
        if events:
            summaries = [(event.created_at, *describe(event.type, json.loads(event.data))) for event in events]
            text = "\n\n".join(f"{at:%d %b %Y %H:%M} UTC: " + "\n".join(lines) for at, _, lines in summaries)
            markup = "".join(f"<h3>{at:%d %b %Y %H:%M} UTC: {html.escape(subject)}</h3>"
                             + "".join(f"<p>{html.escape(line)}</p>" for line in lines) for at, subject, lines in summaries)
            send_email(config, admin.email, f"[Offers Feedback] Daily digest: {len(events)} events", text,
                       f"<!doctype html><html><body>{markup}</body></html>")
            sent += 1
        subscription.last_digest_at = now
        subscription.save()
    return sent
