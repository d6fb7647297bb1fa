"""Who is calling: API keys, dashboard users and their sessions, scopes and park access.

API keys look like `lt_<id>_<secret>`: `id` (8 characters) finds the row, the whole key's
SHA-256 is compared in constant time. 256 random bits make a plain SHA-256 the right hash
(nothing to brute-force; a slow hash would only cost CPU per request). User passwords are low
entropy, so they are kept as Argon2id hashes (argon2-cffi). A dashboard login gives a random
session token in an HttpOnly, SameSite=Strict cookie; only its SHA-256 is stored.
Secrets are shown once, when created, and never logged. A key or user may be bound to
enterprises of its one park (`enterprises`; lingtan.api.deps enforces what such a credential sees).

`Principals` keeps the principals of recently checked credentials for at most PRINCIPAL_TTL_S
(2 s, the open streams' re-check) so that a busy dashboard or city poller costs no key lookup
per request; a logout through this process forgets its session at once, and a key revoked or a
user disabled from another process (`lingtan keys revoke`, `lingtan users disable`) is refused
within that bound.
"""

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from lingtan.api.scopes import Scope
from lingtan.store.models import ApiKey, User, WebSession
from lingtan.store.timeutil import aware

SESSION_COOKIE = "lingtan_session"
_KEY_PREFIX = "lt_"
_hasher = PasswordHasher()  # Argon2id, library defaults (RFC 9106 low-memory profile)
_DUMMY_HASH = _hasher.hash("not a password")  # verify against it for unknown users (same timing)
PRINCIPAL_TTL_S = 2.0  # how long a checked credential is believed (docs/api.md, Revocation)
PRINCIPALS_MAX = 4096  # remembered credentials per process (least recently used dropped)


class AuthError(ValueError):
    """A credential operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    kind: str  # "key", "user" or "demo"
    name: str  # key id, username, or "demo"
    parks: frozenset[str] | None  # None: every park
    scopes: frozenset[Scope]
    enterprises: frozenset[str] | None = None  # None: the whole park; else only these enterprises of it

    def can(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes or (
            scope is Scope.READ and Scope.WRITE in self.scopes)

    def sees(self, park_id: str) -> bool:
        return self.parks is None or park_id in self.parks

    def sees_enterprise(self, park_id: str, enterprise_id: str) -> bool:
        return self.sees(park_id) and (self.enterprises is None or enterprise_id in self.enterprises)

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.kind}:{self.name}"


DEMO = Principal("demo", "demo", None, frozenset(Scope))


def _parks_text(parks: list[str] | None) -> str:
    return "*" if parks is None else ",".join(sorted(set(parks)))


def _parks_of(text: str) -> frozenset[str] | None:
    return None if text == "*" else frozenset(p for p in text.split(",") if p)


def _scopes_of(text: str) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in text.split(",") if s)


def _enterprises_of(text: str | None) -> frozenset[str] | None:
    return None if text is None else frozenset(e for e in text.split(",") if e)


def _enterprises_text(parks: list[str] | None, enterprises: list[str] | None) -> str | None:
    """Stored form of an enterprise binding; an enterprise credential has exactly one park."""
    if enterprises is None:
        return None
    if not enterprises:
        raise AuthError("--enterprise E: give at least one enterprise, or none for a park-level credential")
    if parks is None or len(set(parks)) != 1:
        raise AuthError(f"--enterprise {enterprises[0]}: an enterprise credential needs exactly one --park "
                        f"(the park of its enterprises), not {'--all-parks' if parks is None else sorted(set(parks))}")
    return ",".join(sorted(set(enterprises)))


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- API keys ----------------------------------------------------------------------------
def create_key(session: Session, *, parks: list[str] | None, scopes: list[Scope], name: str,
               now: datetime, enterprises: list[str] | None = None) -> tuple[ApiKey, str]:
    """A new key row and the key itself (shown once; only its hash is stored)."""
    if not scopes:
        raise AuthError("a key needs at least one scope: read, write or admin")
    if parks is not None and not parks:
        raise AuthError("a key needs --park P (repeatable) or --all-parks")
    bound = _enterprises_text(parks, enterprises)
    key_id = secrets.token_hex(4)
    key = f"{_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(id=key_id, key_sha256=sha256_hex(key), name=name, parks=_parks_text(parks),
                 scopes=",".join(sorted({Scope(s).value for s in scopes})), enterprises=bound, created_at=now)
    session.add(row)
    return row, key


def key_principal(session: Session, key: str) -> Principal | None:
    """The principal of a presented key, or None (unknown, malformed or revoked)."""
    if not key.startswith(_KEY_PREFIX) or key.count("_") < 2:
        return None
    key_id = key[len(_KEY_PREFIX):].split("_", 1)[0]
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_sha256, sha256_hex(key)):
        return None
    return Principal("key", row.id, _parks_of(row.parks), _scopes_of(row.scopes), _enterprises_of(row.enterprises))


def revoke_key(session: Session, key_id: str, now: datetime) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise AuthError(f"key id {key_id!r}: no such key (lingtan keys list shows them)")
    if row.revoked_at is None:
        row.revoked_at = now
    return row


# -- users and sessions -------------------------------------------------------------------
def create_user(session: Session, *, username: str, password: str, parks: list[str] | None,
                scopes: list[Scope], now: datetime, enterprises: list[str] | None = None) -> User:
    if len(password) < 10:
        raise AuthError("password: at least 10 characters")
    bound = _enterprises_text(parks, enterprises)
    if session.get(User, username) is not None:
        raise AuthError(f"user {username!r} exists")
    user = User(username=username, password_hash=_hasher.hash(password), parks=_parks_text(parks),
                scopes=",".join(sorted({Scope(s).value for s in scopes})), enterprises=bound, created_at=now,
                disabled=False)
    session.add(user)
    return user


def login(session: Session, username: str, password: str, now: datetime, hours: float) -> str | None:
    """A new session token for a correct username and password, else None."""
    user = session.get(User, username)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_sha256=sha256_hex(token), username=username, created_at=now,
                           expires_at=now + timedelta(hours=hours)))
    return token


def session_principal(session: Session, token: str, now: datetime) -> Principal | None:
    row = session.get(WebSession, sha256_hex(token))
    if row is None or aware(row.expires_at) <= now:
        return None
    user = session.get(User, row.username)
    if user is None or user.disabled:
        return None
    return Principal("user", user.username, _parks_of(user.parks), _scopes_of(user.scopes),
                     _enterprises_of(user.enterprises))


def logout(session: Session, token: str) -> None:
    row = session.get(WebSession, sha256_hex(token))
    if row is not None:
        session.delete(row)


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


# -- recently checked credentials -----------------------------------------------------------
class Principals:
    """Principals of credentials checked in the last `ttl_s` seconds, by the credential's SHA-256
    (never the secret itself). Only accepted credentials are kept: an unknown key is looked up
    every time, and a key created meanwhile works at once."""

    def __init__(self, ttl_s: float = PRINCIPAL_TTL_S, size: int = PRINCIPALS_MAX,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.size, self.monotonic = ttl_s, size, monotonic
        self._entries: OrderedDict[str, tuple[float, Principal, datetime | None]] = OrderedDict()
        self._guard = threading.Lock()

    def _recall(self, digest: str, now: datetime | None) -> Principal | None:
        with self._guard:
            hit = self._entries.get(digest)
            if hit is None:
                return None
            checked, principal, expires = hit
            if self.monotonic() - checked >= self.ttl_s or (expires is not None and aware(expires) <= now):
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return principal

    def _keep(self, digest: str, principal: Principal, expires: datetime | None = None) -> None:
        with self._guard:
            self._entries[digest] = (self.monotonic(), principal, expires)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def key(self, session: Session, key: str) -> Principal | None:
        """`key_principal`, remembered for ttl_s."""
        digest = "k" + sha256_hex(key)
        principal = self._recall(digest, None)
        if principal is None:
            principal = key_principal(session, key)
            if principal is not None:
                self._keep(digest, principal)
        return principal

    def session(self, session: Session, token: str, now: datetime) -> Principal | None:
        """`session_principal`, remembered for ttl_s and never past the session's expiry."""
        digest = "s" + sha256_hex(token)
        principal = self._recall(digest, now)
        if principal is None:
            row = session.get(WebSession, sha256_hex(token))
            principal = session_principal(session, token, now)
            if principal is not None:
                self._keep(digest, principal, row.expires_at)
        return principal

    def forget(self, kind: str, name: str) -> None:
        """Drop every remembered credential of a key id or a username (revoked or disabled here)."""
        with self._guard:
            for digest in [d for d, (_t, p, _e) in self._entries.items() if (p.kind, p.name) == (kind, name)]:
                del self._entries[digest]

    def forget_session(self, token: str) -> None:
        """Drop a session token (logged out through this process)."""
        with self._guard:
            self._entries.pop("s" + sha256_hex(token), None)
