"""API clients and their secrets: generated, shown once, kept only as digests."""
import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from .db import database
from .feedback import Reporter
from .models import ApiKey, Client


def new_secret():
    """A fresh high-entropy secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def digest(secret):
    """SHA-256 hex digest; enough for random 256-bit secrets, unlike for passwords."""
    return hashlib.sha256(secret.encode()).hexdigest()


# Compared against when the clientkey is unknown, so that case costs the same time.
_NO_DIGEST = digest(new_secret())


@dataclass(frozen=True)
class IssuedClient:
    client: Client
    clientpass: str
    apikey: str
    apikey_id: str
    widget_secret: str


@dataclass(frozen=True)
class ClientCredentials(Reporter):
    """What verifying a request needs; small and immutable, so workers may cache it. As a
    Reporter, it says which banks the client may report for."""

    pass_digest: str
    apikeys: tuple  # (key_id, digest) of each active API key


def _new_api_key(client, now):
    apikey = new_secret()
    row = ApiKey.create(client=client, key_id="ak_" + secrets.token_hex(6), digest=digest(apikey), created_at=now)
    return apikey, row.key_id


def create_client(name, now, bank=None, network=None, origins=()):
    """Create a client for one bank or one network, with its first API key and a widget key."""
    clientpass = new_secret()
    widget_secret = secrets.token_hex(32)
    with database.atomic():
        client = Client.create(
            clientkey="ck_" + secrets.token_hex(10),
            name=name,
            bank=bank,
            network=network,
            pass_digest=digest(clientpass),
            created_at=now,
            widget_key="wk_" + secrets.token_hex(10),
            widget_secret=widget_secret,
            widget_origins=" ".join(normalized_origin(origin) for origin in origins),
        )
        apikey, apikey_id = _new_api_key(client, now)
    return IssuedClient(client, clientpass, apikey, apikey_id, widget_secret)


# A host name as browsers send it in Origin: ASCII labels (IDNA-encoded), dots between.
HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
MAX_ORIGINS = 20  # allowed page origins per client: they all go in one response header


def normalized_origin(url):
    """scheme://host[:port] of a page URL, lower-cased, the host IDNA-encoded; ValueError
    when it has none, or anything that could change the frame's frame-ancestors header
    (spaces, wildcards, quotes, separators, %-escapes) or is not a host name or IP address."""
    problem = ValueError(f"{url!r} is not an http(s) origin such as https://www.bank.example")
    text = url.strip()
    if not text.isprintable() or any(c.isspace() or c in "*;,'\"%\\" for c in text):
        raise problem
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise problem from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None or port == 0:
        raise problem
    try:
        address = ipaddress.ip_address(parts.hostname)
        host = f"[{address.compressed}]" if address.version == 6 else address.compressed
    except ValueError:
        try:
            host = parts.hostname.rstrip(".").encode("idna").decode("ascii")
        except UnicodeError:
            raise problem from None
        if len(host) > 253 or not HOST_NAME.fullmatch(host):
            raise problem
    default_port = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}{f':{port}' if port and port != default_port else ''}"


def set_widget_origins(client, origins):
    """Replace the page origins allowed to embed the client's widget (none turns it off);
    origins as normalized_origin gave them. ValueError beyond MAX_ORIGINS."""
    kept = list(dict.fromkeys(origins))
    if len(kept) > MAX_ORIGINS:
        raise ValueError(f"a client allows at most {MAX_ORIGINS} page origins")
    client.widget_origins = " ".join(kept)
    client.save()


def user_signature(widget_secret, user_id):
    """What a bank's server puts in data-user-sig: hex HMAC-SHA256 of the user id."""
    return hmac.new(widget_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def signature_matches(widget_secret, user_id, signature):
    """Constant-time check of a customer id's signature."""
    # compare_digest takes str only when ASCII: anything else cannot be a hex signature.
    return signature.isascii() and hmac.compare_digest(user_signature(widget_secret, user_id), signature.lower())


def add_api_key(client, now):
    """Issue another API key, so a bank can rotate without downtime."""
    return _new_api_key(client, now)


def revoke_api_key(client, apikey_id, now):
    """Revoke one of the client's keys; False when it has no such active key."""
    return bool(
        ApiKey.update(revoked_at=now)
        .where(ApiKey.client == client, ApiKey.key_id == apikey_id, ApiKey.revoked_at.is_null())
        .execute()
    )


def load_credentials(clientkey):
    """The digests a request for clientkey must match, or None for an unknown key."""
    client = Client.get_or_none(Client.clientkey == clientkey)
    if client is None:
        return None
    keys = ApiKey.select(ApiKey.key_id, ApiKey.digest).where(ApiKey.client == client, ApiKey.revoked_at.is_null())
    return ClientCredentials(client.id, client.bank_id, client.network_id, client.pass_digest, tuple(keys.tuples()))


def credentials_match(credentials, clientpass, apikey):
    """Constant-time check of a pass and an API key against stored digests: the matching
    key's key_id, else None."""
    pass_digest = credentials.pass_digest if credentials else _NO_DIGEST
    pass_ok = hmac.compare_digest(digest(clientpass), pass_digest)
    apikey_digest = digest(apikey)
    matched = None
    for key_id, stored in credentials.apikeys if credentials else (("", _NO_DIGEST),):
        if hmac.compare_digest(apikey_digest, stored):
            matched = key_id
    return matched if credentials is not None and pass_ok else None
