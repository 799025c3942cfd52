"""The sign-in throttle: too many failed sign-ins per address, or per account, are refused.

Per address: `max_failures` failures from one address, whatever the accounts, stop that address.
Per account: once an account has `max_failures` failures from anywhere, only the addresses that
took part are stopped. A stranger cannot lock a user out (the user's own address has no failure
on that account and still signs in), and guessing one account from many addresses still gets
one guess per address per window.

Failures are rows of `login_attempts`, not process memory, so every web process behind a load
balancer counts the same ones. A successful sign-in is not counted and clears the account's
failures. Account names are compared lower-case: MariaDB's collation matches them so anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.models import LoginAttempt, utcnow

USERNAME_LENGTH = 80
CLIENT_LENGTH = 64


@dataclass(frozen=True)
class Throttle:
    """At most `max_failures` failed sign-ins per account, and per address, in `window`."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=5)


DEFAULT_THROTTLE = Throttle()


def account_key(username: str) -> str:
    """The name failures are counted under (case and surrounding space do not matter)."""
    return username.strip().lower()[:USERNAME_LENGTH]


def client_key(address: str | None) -> str:
    """The address failures are counted under."""
    return (address or "unknown")[:CLIENT_LENGTH]


def _wait(s: Session, match: ColumnElement[bool], throttle: Throttle, now: datetime) -> float:
    """Seconds until fewer than `max_failures` of the matching failures are in the window."""
    newest = s.scalars(
        select(LoginAttempt.attempted_at)
        .where(match, LoginAttempt.attempted_at > now - throttle.window)
        .order_by(LoginAttempt.attempted_at.desc())
        .limit(throttle.max_failures)
    ).all()
    if len(newest) < throttle.max_failures:
        return 0.0
    return (newest[-1] + throttle.window - now).total_seconds()


def _took_part(s: Session, match: ColumnElement[bool], throttle: Throttle, now: datetime) -> bool:
    """True when a matching failure is in the window."""
    window = LoginAttempt.attempted_at > now - throttle.window
    return s.scalars(select(LoginAttempt.id).where(match, window).limit(1)).first() is not None


def retry_after(
    session_factory: sessionmaker[Session],
    username: str,
    client: str,
    throttle: Throttle = DEFAULT_THROTTLE,
    now: datetime | None = None,
) -> int:
    """Whole seconds until this account and address may try again; 0 means now."""
    now = now or utcnow()
    account = LoginAttempt.username == account_key(username)
    address = LoginAttempt.client == client_key(client)
    with session_factory() as s:
        waits = [_wait(s, address, throttle, now)]
        if _took_part(s, account & address, throttle, now):
            waits.append(_wait(s, account, throttle, now))
    longest = max(waits)
    return max(1, math.ceil(longest)) if longest > 0 else 0


def record_failure(
    session_factory: sessionmaker[Session],
    username: str,
    client: str,
    throttle: Throttle = DEFAULT_THROTTLE,
    now: datetime | None = None,
) -> None:
    """Count a failed sign-in; failures older than the window are dropped on the way."""
    now = now or utcnow()
    with session_factory() as s, s.begin():
        s.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at <= now - throttle.window))
        s.add(
            LoginAttempt(
                username=account_key(username), client=client_key(client), attempted_at=now
            )
        )


def clear_failures(session_factory: sessionmaker[Session], username: str) -> None:
    """Forget an account's failures after it signed in (its address's stay counted)."""
    with session_factory() as s, s.begin():
        s.execute(delete(LoginAttempt).where(LoginAttempt.username == account_key(username)))
