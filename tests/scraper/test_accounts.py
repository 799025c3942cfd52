"""Accounts: tokens are stored hashed and touched at most once a minute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from scraper.accounts import (
    Account,
    AccountError,
    RecentTokens,
    account_for_token,
    create_token,
    create_user,
    hash_token,
)
from scraper.accounts.directory import (
    NoSuchAccount,
    list_tokens,
    list_users,
    revoke_token,
    set_active,
    set_admin,
)
from scraper.models import ApiToken
from scraper.runtime import Runtime


def _last_used(runtime: Runtime, token: str):  # type: ignore[no-untyped-def]
    with runtime.Session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        return row.last_used_at, row.token_hash != token


def test_token_is_stored_hashed_and_last_use_is_throttled(runtime: Runtime) -> None:
    create_user(runtime.Session, "carol", "password-c")
    token = create_token(runtime.Session, "carol")
    assert account_for_token(runtime.Session, token).username == "carol"
    first, hashed = _last_used(runtime, token)
    assert first is not None and hashed

    account_for_token(runtime.Session, token)
    assert _last_used(runtime, token)[0] == first  # no write within the minute

    with runtime.Session() as s, s.begin():
        row = s.scalar(select(ApiToken))
        row.last_used_at = first - timedelta(minutes=5)
    account_for_token(runtime.Session, token)
    assert _last_used(runtime, token)[0] > first - timedelta(minutes=5)


def test_unknown_token_is_refused(runtime: Runtime) -> None:
    assert account_for_token(runtime.Session, "scr_not-a-token") is None


def test_recent_tokens_recall_only_confirmed_unexpired_tokens() -> None:
    account = Account(id=1, username="alice", roles=frozenset({"user"}))
    recent, expired = RecentTokens(ttl=60), RecentTokens(ttl=0)
    for cache in (recent, expired):
        cache.remember("scr_good", account)
    recent.remember("scr_revoked", account)
    recent.remember("scr_revoked", None)
    assert recent.recall("scr_good") == account
    assert recent.recall("scr_revoked") is None and recent.recall("scr_unknown") is None
    assert expired.recall("scr_good") is None
    assert recent.recall("scr_good", max_age=0) is None, "older than `fresh`: look it up again"


def test_the_directory_lists_changes_roles_and_revokes_on_every_dialect(runtime: Runtime) -> None:
    root = create_user(runtime.Session, "root", "password-r", admin=True)
    dora = create_user(runtime.Session, "dora", "password-d")
    token = create_token(runtime.Session, "dora", "script")
    create_token(runtime.Session, "dora", "other")

    set_admin(runtime.Session, dora.id, True, root)
    set_active(runtime.Session, dora.id, False, root)
    listed = {u.username: (u.roles, u.is_active, u.live_tokens)
              for u in list_users(runtime.Session)}  # fmt: skip
    assert listed == {"dora": (("admin", "user"), False, 2), "root": (("admin", "user"), True, 0)}
    set_admin(runtime.Session, dora.id, False, root)
    set_active(runtime.Session, dora.id, True, root)
    first = list_tokens(runtime.Session, dora.id)[-1]
    assert (first.name, first.prefix) == ("script", token[:8])
    revoke_token(runtime.Session, first.id, dora.id)
    with pytest.raises(AccountError, match="already revoked"):
        revoke_token(runtime.Session, first.id, None)
    with pytest.raises(NoSuchAccount):
        revoke_token(runtime.Session, first.id, root.id)  # not root's token
    assert account_for_token(runtime.Session, token) is None
    assert [u.roles for u in list_users(runtime.Session) if u.username == "dora"] == [("user",)]
    assert list_tokens(runtime.Session, None)[0].username == "dora"
