"""Alerts: events recorded with the change that caused them (the outbox), delivered to
webhooks signed as Standard Webhooks specifies and to admins by e-mail, retried with
exponential back-off until they succeed or a day has passed. docs/alerts.md is the
bank developer's side.
"""
import base64
import html
import http.client
import ipaddress
import json
import logging
import secrets
import smtplib
import socket
import ssl
import threading
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from standardwebhooks.webhooks import Webhook as Signer

from .accounts import admin_scope
from .models import AdminUser, Delivery, EmailSubscription, Event, Webhook

log = logging.getLogger(__name__)
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
    """A webhook URL as given, if it is one: http(s) with a host name, no user name or
    password in it, and addresses that resolve_checked accepts."""
    parts, port = _parsed(url)
    resolve_checked(parts.hostname, port, private_networks)
    return url


def _parsed(url):
    """(urlsplit's parts, the port) of a webhook URL; AlertError if it is none."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000 or not url.isprintable() \
            or port is None:
        raise AlertError("the URL must be http:// or https:// with a host name (and a port from 1 to 65535)")
    if "@" in parts.netloc:
        raise AlertError("put no user name or password in the URL (the signature authenticates us)")
    return parts, port


def resolve_checked(host, port, private_networks):
    """The addresses a host resolves to, once; AlertError if any is on a private network
    (private, loopback, link-local, or one embedded in an IPv6 form) unless
    WEBHOOK_PRIVATE_NETWORKS=1: else an admin could make the server call the machines
    behind it. Deliveries connect to the address checked, never resolving again."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AlertError(f"the host {host} is not found") from None
    addresses = [info[4][0] for info in infos]
    if not private_networks and not all(_public(address) for address in addresses):
        raise AlertError("the URL's host is on a private network (set WEBHOOK_PRIVATE_NETWORKS=1 to allow)")
    return addresses


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _public(text):
    address = ipaddress.ip_address(text.split("%")[0])
    if address.version == 6:
        embedded = [address.ipv4_mapped, address.sixtofour, address.teredo and address.teredo[1]]
        if address in NAT64 or int(address) >> 32 == 0:  # NAT64, and IPv4-compatible ::a.b.c.d
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(inner is not None and not inner.is_global for inner in embedded):
            return False
    return address.is_global


def create_webhook(scope, url, events, now):
    """A new webhook for a URL check_url accepted (outside any transaction: a name server
    may be slow), and its secret (whsec_..., shown once to whoever made it)."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    webhook = Webhook.create(scope=scope, url=url, secret=secret, events=event_list(events), created_at=now)
    return webhook, secret


def shown(url):
    """A webhook URL for logs: without its query, which may carry a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?..." if parts.query else "")


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


def deliver_due(now, config):
    """Try the deliveries whose time has come (the oldest first, some at a time, each
    committed as it is settled); returns how many were tried."""
    due = list(Delivery.select(Delivery, Event).join(Event)
               .where(Delivery.next_attempt_at <= now).order_by(Delivery.next_attempt_at).limit(DUE_PER_RUN))
    for delivery in due:
        try:
            result = _send(delivery, config)
        except AlertError as error:
            result = str(error)[:200]
        except Exception as error:  # noqa: BLE001  (whatever went wrong, the delivery is retried)
            result = f"failed: {type(error).__name__}"
        _settle(delivery, result, now, config)
    return len(due)


def _send(delivery, config):
    """None when delivered, else what went wrong."""
    event = delivery.event
    if delivery.webhook_id is None:
        if not admins_of(event.scope).where(AdminUser.email == delivery.email).exists():
            raise AlertError("the admin is no longer of this audience, or is disabled")
        send_email(config, delivery.email, *event_message(event, config))
        return None
    webhook = delivery.webhook
    if webhook.disabled_at is not None:
        return "webhook disabled"
    body = payload(event)
    status = post(webhook.url, body.encode(), signed_headers(webhook.secret, event, body),
                  config["WEBHOOK_TIMEOUT_SECONDS"], config["WEBHOOK_PRIVATE_NETWORKS"])
    return None if 200 <= status < 300 else f"HTTP {status}"


class _To(http.client.HTTPConnection):
    """A connection to an address already checked, for the URL's host name."""

    def __init__(self, address, host, port, timeout):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _SecureTo(http.client.HTTPSConnection):
    """As _To, over TLS, the certificate checked against the host name."""

    def __init__(self, address, host, port, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url, body, headers, timeout, private_networks):
    """POST body to url (no redirect followed, no proxy) and return the status; the whole
    exchange is cut off after timeout seconds, however slowly the receiver trickles its
    answer. AlertError (in words) when it could not be made."""
    parts, port = _parsed(url)
    address = resolve_checked(parts.hostname, port, private_networks)[0]
    connection = (_SecureTo if parts.scheme == "https" else _To)(address, parts.hostname, port, timeout)
    was_cut = threading.Event()
    cut_off = threading.Timer(timeout, _cut, [connection, was_cut])
    cut_off.start()
    try:
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        if was_cut.is_set() or isinstance(error, TimeoutError):
            raise AlertError("timed out") from None
        raise AlertError("could not connect" if isinstance(error, ConnectionError) else
                         f"failed: {type(error).__name__}") from None
    finally:
        cut_off.cancel()
        connection.close()


def _cut(connection, was_cut):
    """Wake a read blocked on the connection (a close alone may not)."""
    was_cut.set()
    if connection.sock is not None:
        try:
            connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


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
        try:
            sent += _send_digest(subscription, now, config)
        except Exception:  # noqa: BLE001  (this subscriber's digest waits for tomorrow's, with today's events)
            log.exception("The digest to subscriber %s failed", subscription.id)
    return sent


def _send_digest(subscription, now, config):
    """1 if one was sent, else 0; then the subscription's events are counted as told."""
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
    subscription.last_digest_at = now
    subscription.save()
    return 1 if events else 0
