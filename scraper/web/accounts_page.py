"""Users (admin only) and API tokens (each user their own; an admin everyone's) from the
dashboard, with the rules of the `scraper` CLI (`scraper.accounts`).

A new password or token is shown once, in the page that answers the form post (never in a
flash message: those travel in the session cookie), and that page is never cached.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import login_required

from scraper.accounts import (
    AccountError,
    RecentTokens,
    create_token,
    create_user,
    random_password,
    reset_password,
)
from scraper.accounts.directory import (
    NoSuchAccount,
    list_tokens,
    list_users,
    revoke_token,
    set_active,
    set_admin,
    username_of,
)
from scraper.web.auth import TOKENS_KEY, current_account, owner_filter
from scraper.web.context import current_runtime
from scraper.web.operation import POSTED, documented
from scraper.web.schemas import MAX_ROW_ID

bp = Blueprint("accounts", __name__)
USER_ACTIONS = ("enable", "disable", "make-admin", "remove-admin", "reset-password")
NOT_ADMIN = "Only an admin may manage users."


def _require_admin() -> None:
    if not current_account().is_admin:
        abort(403, description=NOT_ADMIN)


def _row_id(value: int, what: str) -> int:
    """The id if a row can have it; 404 for one past any (a database would refuse to compare)."""
    if not 1 <= value <= MAX_ROW_ID:
        abort(404, description=f"There is no {what} with id {value}.")
    return value


def _secret_page(template: str, status: int, **context: Any) -> ResponseReturnValue:
    """A page that may show a secret once: never stored by a cache or the browser's history."""
    return render_template(template, **context), status, {"Cache-Control": "no-store"}


def _forget_tokens(user_id: int) -> None:
    """This process asks the database again for the user's tokens (revoked or disabled)."""
    recent: RecentTokens = current_app.extensions[TOKENS_KEY]
    recent.forget_account(user_id)


# -- users -------------------------------------------------------------------------------------


def _users_page(status: int = 200, **context: Any) -> ResponseReturnValue:
    users = list_users(current_runtime().Session)
    return _secret_page("users.html", status, users=users, me=current_account().id, **context)


@bp.get("/users")
@login_required
@documented(summary="Users: list, create, disable, roles (admin only)", page=True,
            errors=(302, 403, 503))  # fmt: skip
def users() -> ResponseReturnValue:
    """Every user with roles, state and tokens, and the form to add one (admins only)."""
    _require_admin()
    return _users_page()


@bp.post("/users")
@login_required
@documented(
    summary="Create a user (admin only)",
    page=True,
    errors=(*POSTED, 403),
    form={"username": {"type": "string"}, "password": {"type": "string"},
          "admin": {"type": "string"}},
)  # fmt: skip
def create() -> ResponseReturnValue:
    """Create a user; without a password a random one is made and shown once."""
    _require_admin()
    name, given = request.form.get("username", "").strip(), request.form.get("password", "")
    password = given or random_password()
    try:
        create_user(current_runtime().Session, name, password, "admin" in request.form)
    except AccountError as exc:
        return _users_page(400, problem=f"{exc}.", form=request.form)
    secret = None if given else password
    return _users_page(created=name, secret=secret, secret_user=name)


@bp.post("/users/<int:user_id>/<action>")
@login_required
@documented(
    summary="Enable, disable, make or remove admin, reset a password (admin only)",
    page=True,
    status=302,
    errors=(*POSTED, 403, 404),
    params={"action": {"enum": list(USER_ACTIONS)}},
    form={},
)
def user_action(user_id: int, action: str) -> ResponseReturnValue:
    """Apply one action to a user; a reset password is shown once on the page it answers."""
    _require_admin()
    if action not in USER_ACTIONS:
        abort(404)
    _row_id(user_id, "user")
    sessions, me = current_runtime().Session, current_account()
    try:
        name = username_of(sessions, user_id)
        if action == "reset-password":
            secret = reset_password(sessions, name)
            return _users_page(secret=secret, secret_user=name)
        if action in ("enable", "disable"):
            set_active(sessions, user_id, action == "enable", me)
        else:
            set_admin(sessions, user_id, action == "make-admin", me)
    except NoSuchAccount:
        abort(404, description=f"There is no user with id {user_id}.")
    except AccountError as exc:
        flash(f"Refused: {exc}.", "error")
        return redirect(url_for("accounts.users"))
    _forget_tokens(user_id)
    flash(f"{name}: {DONE[action]}.", "info")
    return redirect(url_for("accounts.users"))


DONE = {
    "enable": "enabled",
    "disable": "disabled, signed out, their tokens stop working",
    "make-admin": "now an admin",
    "remove-admin": "no longer an admin",
}


# -- tokens ------------------------------------------------------------------------------------


def _tokens_page(status: int = 200, **context: Any) -> ResponseReturnValue:
    tokens = list_tokens(current_runtime().Session, owner_filter())
    return _secret_page("tokens.html", status, tokens=tokens, **context)


@bp.get("/tokens")
@login_required
@documented(summary="API tokens: yours (an admin: everyone's)", page=True, errors=(302, 503))
def tokens() -> ResponseReturnValue:
    """Your API tokens (an admin sees everyone's) and the form to create one."""
    return _tokens_page()


@bp.post("/tokens")
@login_required
@documented(
    summary="Create an API token (shown once)",
    page=True,
    errors=(*POSTED, 403),
    form={"name": {"type": "string"}, "username": {"type": "string"}},
)
def create_token_view() -> ResponseReturnValue:
    """Create a token for yourself (an admin: for any user); the page shows it once."""
    me = current_account()
    owner = request.form.get("username", "").strip() or me.username
    if owner != me.username and not me.is_admin:
        abort(403, description="Only an admin may create a token for another user.")
    label = request.form.get("name", "").strip() or "dashboard"
    if len(label) > 80:
        return _tokens_page(400, problem="A token's name is at most 80 characters.")
    try:
        secret = create_token(current_runtime().Session, owner, label)
    except AccountError as exc:
        return _tokens_page(400, problem=f"{exc}.")
    return _tokens_page(secret=secret, secret_user=owner)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
@documented(summary="Revoke an API token", page=True, status=302, errors=(*POSTED, 404), form={})
def revoke(token_id: int) -> ResponseReturnValue:
    """Revoke one of your tokens (an admin: anyone's); scripts using it get 401 from now on."""
    try:
        token = revoke_token(current_runtime().Session, _row_id(token_id, "token"), owner_filter())
    except NoSuchAccount:
        abort(404, description=f"There is no token with id {token_id} that you can see.")
    except AccountError as exc:
        flash(f"Refused: {exc}.", "error")
        return redirect(url_for("accounts.tokens"))
    _forget_tokens(token.user_id)
    flash(f"Token {token.name!r} ({token.prefix}…) revoked.", "info")
    return redirect(url_for("accounts.tokens"))


def init_app(app: Flask) -> None:
    """Register the users and tokens pages."""
    app.register_blueprint(bp)
