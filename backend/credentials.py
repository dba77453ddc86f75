"""API clients and their secrets: generated, shown once, kept only as digests."""
import hashlib
import hmac
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


def normalized_origin(url):
    """scheme://host[:port] of a page URL, lower-cased; ValueError when it has none."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) origin such as https://www.bank.example")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def set_widget_origins(client, origins):
    """Replace the page origins allowed to embed the client's widget (none turns it off)."""
    client.widget_origins = " ".join(dict.fromkeys(normalized_origin(origin) for origin in origins))
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
