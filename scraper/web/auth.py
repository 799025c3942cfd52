"""Sign-in: Flask-Login sessions for the dashboard, bearer tokens for scripts, CSRF on forms.

A request carrying `Authorization: Bearer …` is authenticated by the token alone (its session
cookie is ignored) and is exempt from CSRF: a browser never adds that header cross-site.
Every other unsafe request, form or JSON, needs the CSRF token (field or `X-CSRFToken`).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import SQLAlchemyError

from scraper.accounts import (
    Account,
    RecentTokens,
    account_for_token,
    authenticate,
    get_account,
)
from scraper.accounts.logins import clear_failures, record_failure, retry_after
from scraper.accounts.sessions import close_session, open_session, session_is_open
from scraper.web.clients import client_address
from scraper.web.context import current_runtime
from scraper.web.errors import error_response, wants_json
from scraper.web.operation import POSTED, documented

bp = Blueprint("auth", __name__)
TOKENS_KEY = "scraper.tokens"
login_manager = LoginManager()
csrf = CSRFProtect()

# API endpoints anyone may call (the contract's health and metrics live outside /api).
PUBLIC_API_ENDPOINTS = frozenset({"docs.openapi_document", "docs.api_docs"})


class WebUser(UserMixin):
    """The signed-in account as Flask-Login sees it."""

    def __init__(self, account: Account, via_token: bool = False) -> None:
        self.account = account
        self.via_token = via_token

    def get_id(self) -> str:
        return str(self.account.id)

    @property
    def username(self) -> str:
        return self.account.username

    @property
    def is_admin(self) -> bool:
        return self.account.is_admin


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def has_bearer() -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer")


SESSION_KEY = "sid"
SEEN_KEY = "seen"  # when the session last made a request (epoch seconds)


@login_manager.user_loader
def _load_from_session(user_id: str) -> WebUser | None:
    """The session's user, while its server-side session exists (signing out deletes it)."""
    sid = session.get(SESSION_KEY)
    if has_bearer() or not user_id.isdigit() or not isinstance(sid, str):
        return None
    if g.get("database_down"):  # rendering the 503 page: do not ask the database again
        return None
    settings = current_runtime().settings
    max_age = timedelta(seconds=settings.session_max_age)
    if idle_too_long(settings.session_idle_timeout) or not session_is_open(
        current_runtime().Session, int(user_id), sid, max_age
    ):
        close_session(current_runtime().Session, sid)  # expired: its cookie is dead for good
        return None
    account = get_account(current_runtime().Session, int(user_id))
    return WebUser(account) if account is not None else None


def idle_too_long(timeout: int) -> bool:
    """True when the session's last request (signed into its cookie) is over `timeout` ago.

    The time is refreshed at most once a minute, so a polling dashboard does not rewrite its
    cookie on every poll. A cookie from before this check carries none: it starts counting now.
    """
    now = int(time.time())
    seen = session.get(SEEN_KEY)
    if isinstance(seen, int) and now - seen > timeout:
        return True
    if not isinstance(seen, int) or now - seen >= 60:
        session[SEEN_KEY] = now
    return False


@login_manager.request_loader
def _load_from_token(_request: Any) -> WebUser | None:
    token = bearer_token()
    if token is None or g.get("database_down"):
        return None
    recent: RecentTokens = current_app.extensions[TOKENS_KEY]
    account = recent.recall(token, max_age=recent.fresh)
    if account is not None:
        return WebUser(account, via_token=True)
    try:
        account = account_for_token(current_runtime().Session, token)
    except SQLAlchemyError:
        account = recent.recall(token)  # the database is down: jobs go to the fallback store
        if account is None:
            raise
    else:
        recent.remember(token, account)
    return WebUser(account, via_token=True) if account is not None else None


@login_manager.unauthorized_handler
def _unauthorized() -> ResponseReturnValue:
    if wants_json():
        return error_response(401, "unauthorized", "sign in or send Authorization: Bearer <token>")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def current_account() -> Account:
    """The signed-in account (views call this only behind `login_required`)."""
    user: WebUser = current_user._get_current_object()
    return user.account


def owner_filter() -> int | None:
    """The user id to restrict reads to: None for an admin, who sees everything."""
    account = current_account()
    return None if account.is_admin else account.id


def _guard() -> ResponseReturnValue | None:
    """Before every request: 401 for anonymous API calls, then CSRF unless bearer-signed."""
    is_api = wants_json()
    if is_api and request.endpoint not in PUBLIC_API_ENDPOINTS:
        if not current_user.is_authenticated:
            return _unauthorized()
    if current_app.config.get("WTF_CSRF_ENABLED", True) and not has_bearer():
        csrf.protect()
    return None


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("dashboard.index")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
@documented("GET", summary="The sign-in form", page=True, errors=(302,), public=True)
@documented(
    "POST",
    summary="Sign in",
    page=True,
    status=302,
    errors=(400, 401, 413, 429, 503),
    public=True,
    form={
        "username": {"type": "string"},
        "password": {"type": "string"},
        "next": {"type": "string"},
    },
)
def login() -> ResponseReturnValue:
    """Show the login form; check the password and start a session."""
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("dashboard.index"))
        return render_template("login.html", next=request.args.get("next", ""))
    username, client = request.form.get("username", ""), client_address()
    wait = retry_after(current_runtime().Session, username, client)
    if wait:
        page, status = _login_page(
            f"Too many failed sign-ins. Try again in {wait} seconds.", username, 429
        )
        return page, status, {"Retry-After": str(wait)}
    account = authenticate(current_runtime().Session, username, request.form.get("password", ""))
    if account is None:
        record_failure(current_runtime().Session, username, client)
        return _login_page("Wrong username or password.", username, 401)
    clear_failures(current_runtime().Session, username)
    session.clear()  # a fresh session (and CSRF token) for the signed-in user
    session[SESSION_KEY] = open_session(current_runtime().Session, account.id)
    session[SEEN_KEY] = int(time.time())
    login_user(WebUser(account))
    return redirect(safe_next(request.form.get("next")))


def _login_page(message: str, username: str, status: int) -> tuple[str, int]:
    """The login form again, with why the sign-in was refused."""
    flash(message, "error")
    page = render_template("login.html", next=request.form.get("next", ""), username=username)
    return page, status


@bp.post("/logout")
@documented(summary="Sign out", page=True, status=302, errors=POSTED, form={})
def logout() -> ResponseReturnValue:
    """End the session here and on the server: a copy of its cookie no longer signs in.

    A POST with the CSRF token, so no other site can sign you out.
    """
    sid = session.get(SESSION_KEY)
    if isinstance(sid, str):
        close_session(current_runtime().Session, sid)
    logout_user()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))


def cookie_settings(secure: bool) -> dict[str, object]:
    """Cookie flags: HttpOnly and SameSite=Lax always; Secure when served over HTTPS."""
    return {
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure,
        "WTF_CSRF_TIME_LIMIT": None,  # valid for the session's lifetime (a long-open dashboard)
    }


def init_app(app: Flask) -> None:
    """Wire sessions, tokens and CSRF into the app (cookie flags come from `cookie_settings`)."""
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # `_guard` decides, after authentication
    app.extensions[TOKENS_KEY] = RecentTokens()  # per app, built once, not per request
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    app.before_request(_guard)
    app.register_blueprint(bp)
