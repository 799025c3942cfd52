"""Users and API tokens as an admin sees them: list, disable / enable, admin role, revoke.

Creating users and tokens and resetting passwords are `users.create_user`, `create_token` and
`reset_password`, shared with the `scraper` CLI. The rules here keep an admin from locking
everyone out: nobody disables or demotes their own account, so the admin acting stays one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.accounts.users import Account, AccountError, ensure_role
from scraper.models import ApiToken, Role, User, UserRole, UserSession, utcnow


class NoSuchAccount(AccountError):
    """No user or token with that id (or, for a token, not the asker's)."""


@dataclass(frozen=True)
class UserView:
    """One row of the users list."""

    id: int
    username: str
    roles: tuple[str, ...]
    is_active: bool
    created_at: datetime
    live_tokens: int

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


@dataclass(frozen=True)
class TokenView:
    """One API token, without its secret (only the hash is stored; `prefix` tells them apart)."""

    id: int
    user_id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def list_users(session_factory: sessionmaker[Session]) -> list[UserView]:
    """Every user by name, with roles, state and how many unrevoked tokens they hold."""
    live = (
        select(ApiToken.user_id, func.count().label("n"))
        .where(ApiToken.revoked_at.is_(None))
        .group_by(ApiToken.user_id)
        .subquery()
    )
    stmt = select(User, live.c.n).outerjoin(live, live.c.user_id == User.id)
    with session_factory() as s:
        rows = s.execute(stmt.order_by(User.username)).all()
        return [_user_view(user, n or 0) for user, n in rows]


def _user_view(user: User, live_tokens: int) -> UserView:
    roles = tuple(sorted(user.role_names))
    return UserView(user.id, user.username, roles, user.is_active, user.created_at, live_tokens)


def username_of(session_factory: sessionmaker[Session], user_id: int) -> str:
    """The name of user `user_id` (what `reset_password` and `create_token` take)."""
    with session_factory() as s:
        name = s.scalar(select(User.username).where(User.id == user_id))
    if name is None:
        raise NoSuchAccount(f"no user with id {user_id}")
    return name


def set_active(
    session_factory: sessionmaker[Session], user_id: int, active: bool, acting: Account
) -> str:
    """Enable or disable a user; a disabled one is signed out and their tokens stop working."""
    if user_id == acting.id and not active:
        raise AccountError("you cannot disable your own account")
    with session_factory() as s, s.begin():
        user = _user(s, user_id)
        user.is_active = active
        if not active:
            s.execute(delete(UserSession).where(UserSession.user_id == user_id))
        return user.username


def set_admin(
    session_factory: sessionmaker[Session], user_id: int, admin: bool, acting: Account
) -> str:
    """Give or take the admin role (never your own: an admin must remain)."""
    if user_id == acting.id and not admin:
        raise AccountError("you cannot remove your own admin role")
    with session_factory() as s, s.begin():
        user = _user(s, user_id)
        if admin and not user.is_admin:
            user.roles = [*user.roles, ensure_role(s, "admin")]
        elif not admin:
            admin_id = select(Role.id).where(Role.name == "admin").scalar_subquery()
            s.execute(
                delete(UserRole).where(UserRole.user_id == user_id, UserRole.role_id == admin_id)
            )
        return user.username


def _user(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None:
        raise NoSuchAccount(f"no user with id {user_id}")
    return user


def list_tokens(session_factory: sessionmaker[Session], user_id: int | None) -> list[TokenView]:
    """The tokens of user `user_id` (None: everyone's), newest first, revoked ones included."""
    stmt = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    with session_factory() as s:
        rows = s.execute(stmt.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).all()
        return [_token_view(token, name) for token, name in rows]


def _token_view(token: ApiToken, username: str) -> TokenView:
    return TokenView(
        token.id, token.user_id, username, token.name, token.prefix, token.created_at,
        token.last_used_at, token.revoked_at,
    )  # fmt: skip


def revoke_token(
    session_factory: sessionmaker[Session], token_id: int, user_id: int | None
) -> TokenView:
    """Revoke token `token_id` of user `user_id` (None: anyone's); revoking twice is refused."""
    with session_factory() as s, s.begin():
        token = s.get(ApiToken, token_id)
        if token is None or (user_id is not None and token.user_id != user_id):
            raise NoSuchAccount(f"no token with id {token_id}")
        if token.revoked_at is not None:
            raise AccountError(f"token {token.prefix}… is already revoked")
        token.revoked_at = utcnow()
        return _token_view(token, token.user.username)
