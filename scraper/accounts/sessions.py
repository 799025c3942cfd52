"""Server-side sessions: a cookie is good only while its row exists; signing out deletes it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.models import UserSession, utcnow


def _key(session_id: str) -> str:
    # Stored hashed: a leaked table does not hand out live cookies.
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(session_factory: sessionmaker[Session], user_id: int) -> str:
    """Record a new session for the user; the id to put in the signed cookie."""
    session_id = secrets.token_urlsafe(32)
    with session_factory() as s, s.begin():
        s.add(UserSession(id=_key(session_id), user_id=user_id))
    return session_id


def session_is_open(
    session_factory: sessionmaker[Session],
    user_id: int,
    session_id: str,
    max_age: timedelta | None = None,
) -> bool:
    """True while the session exists (not signed out), belongs to this user and, given
    `max_age`, was opened less than that long ago."""
    with session_factory() as s:
        row = s.execute(
            select(UserSession.user_id, UserSession.created_at).where(
                UserSession.id == _key(session_id)
            )
        ).first()
    if row is None or row.user_id != user_id:
        return False
    return max_age is None or row.created_at > utcnow() - max_age


def close_session(session_factory: sessionmaker[Session], session_id: str) -> None:
    """Forget the session: a copy of its cookie no longer signs anyone in."""
    with session_factory() as s, s.begin():
        s.execute(delete(UserSession).where(UserSession.id == _key(session_id)))
