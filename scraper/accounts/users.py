"""Users, roles and API tokens: passwords hashed with scrypt, tokens stored as SHA-256 only."""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.errors import ScraperError
from scraper.models import ApiToken, Role, User, UserSession, utcnow

TOKEN_PREFIX = "scr_"
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
# werkzeug's method string; the tests swap in a one-round PBKDF2 to stay fast.
PASSWORD_METHOD = "scrypt"


class AccountError(ScraperError):
    """A user or token operation that cannot be done (duplicate name, unknown user)."""


@dataclass(frozen=True)
class Account:
    """What the web layer needs to know about a signed-in user."""

    id: int
    username: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @classmethod
    def from_user(cls, user: User) -> Account:
        return cls(id=user.id, username=user.username, roles=frozenset(user.role_names))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_role(s: Session, name: str) -> Role:
    """The role called `name`, created (in this transaction) when it does not exist yet."""
    role = s.scalar(select(Role).where(Role.name == name))
    if role is None:
        role = Role(name=name)
        s.add(role)
        s.flush()
    return role


def _hash(password: str, method: str | None = None) -> str:
    # werkzeug (and the web stack it brings) loads on first use: `ops doctor` never hashes
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password, method or PASSWORD_METHOD)


def _matches(password_hash: str, password: str) -> bool:
    from werkzeug.security import check_password_hash

    return check_password_hash(password_hash, password)


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash to check against when the user does not exist, so both paths cost one check."""
    return _hash(secrets.token_urlsafe(12), method)


def random_password() -> str:
    """A password for someone who did not choose one (shown to them once)."""
    return secrets.token_urlsafe(12)


def create_user(
    session_factory: sessionmaker[Session], username: str, password: str, admin: bool = False
) -> Account:
    """Create a user with the `user` role (and `admin` if asked)."""
    if not username or len(username) > 80:
        raise AccountError("a username is 1 to 80 characters")
    if len(password) < 8:
        raise AccountError("a password has at least 8 characters")
    with session_factory() as s, s.begin():
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise AccountError(f"user {username!r} already exists")
        user = User(username=username, password_hash=_hash(password))
        user.roles = [ensure_role(s, "user")] + ([ensure_role(s, "admin")] if admin else [])
        s.add(user)
        s.flush()
        return Account.from_user(user)


def reset_password(
    session_factory: sessionmaker[Session], username: str, password: str | None = None
) -> str:
    """Set a new password (a random one when None) and end the user's browser sessions."""
    password = password if password is not None else random_password()
    if len(password) < 8:
        raise AccountError("a password has at least 8 characters")
    with session_factory() as s, s.begin():
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise AccountError(f"no user named {username!r}")
        user.password_hash = _hash(password)
        s.execute(delete(UserSession).where(UserSession.user_id == user.id))
    return password


def authenticate(
    session_factory: sessionmaker[Session], username: str, password: str
) -> Account | None:
    """The account if the password matches an active user, else None."""
    # One row of plain columns whether the name exists or not (the roles load only after the
    # password matched), and one hash check either way: the time tells no one which names exist.
    with session_factory() as s:
        found = s.execute(
            select(User.id, User.password_hash, User.is_active).where(User.username == username)
        ).first()
        if found is None or not found.is_active:
            _matches(_dummy_hash(PASSWORD_METHOD), password)
            return None
        if not _matches(found.password_hash, password):
            return None
        user = s.get(User, found.id)
        return None if user is None else Account.from_user(user)


def get_account(session_factory: sessionmaker[Session], user_id: int) -> Account | None:
    with session_factory() as s:
        user = s.get(User, user_id)
        return Account.from_user(user) if user is not None and user.is_active else None


def create_token(session_factory: sessionmaker[Session], username: str, name: str = "cli") -> str:
    """Create an API token for `username`; the plain token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with session_factory() as s, s.begin():
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise AccountError(f"no user named {username!r}")
        s.add(ApiToken(user_id=user.id, name=name, token_hash=hash_token(token), prefix=token[:8]))
    return token


def account_for_token(session_factory: sessionmaker[Session], token: str) -> Account | None:
    """The active account owning this token, or None; records when it was last used."""
    with session_factory() as s, s.begin():
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        if row is None or row.revoked_at is not None or not row.user.is_active:
            return None
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > TOKEN_TOUCH_INTERVAL:
            row.last_used_at = now  # at most one write a minute, not one per request
        return Account.from_user(row.user)


class RecentTokens:
    """Accounts of tokens the database confirmed recently (kept by hash only).

    Two uses: a token confirmed less than `fresh` seconds ago is not looked up again (one
    transaction less on every API call; a revocation takes effect within `fresh` seconds), and
    while the database cannot answer, a token confirmed within `ttl` seconds still signs in, so
    a script can submit jobs into the fallback store. Nothing survives a restart.
    """

    def __init__(self, ttl: float = 900.0, fresh: float = 10.0) -> None:
        self.ttl = ttl
        self.fresh = fresh
        self._seen: dict[str, tuple[Account, float]] = {}
        self._lock = threading.Lock()

    def remember(self, token: str, account: Account | None) -> None:
        """Record what the database said about `token` (None forgets it)."""
        key = hash_token(token)
        with self._lock:
            if account is None:
                self._seen.pop(key, None)
            else:
                self._seen[key] = (account, time.monotonic())

    def forget_account(self, account_id: int) -> None:
        """Forget every token of this account (revoked or disabled: the next call asks again)."""
        with self._lock:
            for key in [k for k, (a, _) in self._seen.items() if a.id == account_id]:
                del self._seen[key]

    def recall(self, token: str, max_age: float | None = None) -> Account | None:
        """The account the database confirmed for `token` within `max_age` (default `ttl`) s."""
        with self._lock:
            account, confirmed = self._seen.get(hash_token(token), (None, float("-inf")))
        limit = self.ttl if max_age is None else max_age
        return account if time.monotonic() - confirmed < limit else None


def count_users(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(User)) or 0


def ensure_admin(session_factory: sessionmaker[Session]) -> tuple[str, str] | None:
    """Create `admin` with a random password when there are no users; return (name, password)."""
    if count_users(session_factory):
        return None
    password = random_password()
    create_user(session_factory, "admin", password, admin=True)
    return "admin", password
