"""Accounts: users, roles and API tokens (`users`), browser sessions (`sessions`), and the
sign-in throttle (`logins`)."""

from scraper.accounts.users import (
    TOKEN_PREFIX,
    Account,
    AccountError,
    RecentTokens,
    account_for_token,
    authenticate,
    count_users,
    create_token,
    create_user,
    ensure_admin,
    get_account,
    hash_token,
    random_password,
    reset_password,
)

__all__ = [
    "TOKEN_PREFIX",
    "Account",
    "AccountError",
    "RecentTokens",
    "account_for_token",
    "authenticate",
    "count_users",
    "create_token",
    "create_user",
    "ensure_admin",
    "get_account",
    "hash_token",
    "random_password",
    "reset_password",
]
