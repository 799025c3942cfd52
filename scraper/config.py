"""Settings from the environment: one typed pydantic-settings model, one field per variable.

Each field carries its documented wording (`description`); `scraper.config_table` renders
docs/configuration.md's table from it. A variable is `SCRAPER_<FIELD NAME>` unless the field
names another (`env`). Building `Settings(...)` in code reads no environment; `from_env` does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, JsonValue, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from scraper.defaults import DEFAULT_DATABASE_URL as DEFAULT_DATABASE_URL
from scraper.errors import ConfigError

ENV_PREFIX = "SCRAPER_"
DEFAULT_SECRET_KEY = "dev-insecure-secret-change-me"
SOURCE_URL_VAR = re.compile(r"SCRAPER_SOURCE_([A-Z0-9_]+)_URL")
STORAGE_URL = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|file:///.*")

# What a person should read instead of pydantic's wording, by pydantic error type.
PHRASES = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be 1 or 0 (true/false, yes/no, on/off)",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "literal_error": "must be {expected}",
    "extra_forbidden": "is not a setting",
    "value_error": "{error}",
}

# The variables `from_env` reads while it builds a model; None (the default) means none.
_environ: ContextVar[Mapping[str, str] | None] = ContextVar("scraper_environ", default=None)


def _lowered(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _comma_items(value: Any) -> list[str]:
    """A comma-separated setting (or an iterable from code) as its non-blank, stripped items."""
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item.strip()]


def _blank_is_none(value: Any) -> Any:
    return (value.strip() or None) if isinstance(value, str) else value


def setting(
    default: Any, meaning: str, *, env: str | None = None, shown: str | None = None, **kw: Any
) -> Any:
    """A field with its documented row: `meaning`, and `shown` when the default reads otherwise."""
    extra: dict[str, JsonValue] = {k: v for k, v in (("env", env), ("shown", shown)) if v}
    return Field(default, description=meaning, json_schema_extra=extra or None, **kw)


class Settings(BaseSettings):
    """Everything the service reads from its environment; build with `Settings.from_env()`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    database_url: str = setting(
        DEFAULT_DATABASE_URL, "`postgresql+psycopg://…`, `mysql+pymysql://…`"
    )
    data_dir: Path = setting(
        Path("data"), "downloads, partial files, fallback journal", shown="`./data`"
    )
    secret_key: str = setting(
        DEFAULT_SECRET_KEY,
        "session signing key — set it in production",
        shown="dev value",
    )
    auto_heal: Annotated[Literal["safe", "off"], BeforeValidator(_lowered)] = setting(
        "safe",
        "additive schema repair, requeue and reconcile, at start-up and while running; off: none",
    )
    allow_private_networks: bool = setting(False, "allow downloads from private/loopback addresses")
    secure_cookies: bool = setting(False, "add `Secure` to session cookies (serve over HTTPS)")
    metrics_token: Annotated[str | None, BeforeValidator(_blank_is_none)] = setting(
        None, "when set, `/metrics` needs `Authorization: Bearer <token>`"
    )
    log_format: Annotated[str, BeforeValidator(_lowered)] = setting(
        "text", "`json` for one JSON object per line"
    )
    max_content_limit: int = setting(
        500, "largest `max_content` a search may ask for", env="SCRAPER_MAX_CONTENT", gt=0
    )
    lease_seconds: int = setting(60, "worker lease; a job whose lease expires is requeued", gt=0)
    max_attempts: int = setting(
        3,
        "attempts before a job fails: lease expiries, or runs whose files the storage refused "
        "(each requeued after a backoff: `SCRAPER_RETRY_BACKOFF`, doubling)",
        gt=0,
    )
    retry_backoff: float = setting(
        5.0, "seconds before a rescued job may run again; doubles with each attempt", gt=0
    )
    download_max_bytes: int = setting(50 * 1024 * 1024, "size cap per file", gt=0)
    download_timeout: float = setting(
        30.0, "seconds a connection may stay silent (connect is capped at 10)", gt=0
    )
    download_deadline: float = setting(
        120.0,
        "total seconds per file, redirects and retries included "
        "(a slow-loris server cannot hold a worker longer)",
        gt=0,
    )
    poll_interval: float = setting(
        1.0, "seconds an idle worker waits before claiming again", shown="`1.0`", gt=0
    )
    reconcile_interval: float = setting(
        30.0, "seconds between automatic fallback reconciliations", gt=0
    )
    schedule_interval: float = setting(
        10.0, "seconds between two looks for due schedules, per serve or worker process", gt=0
    )
    schedule_pause_after: int = setting(
        5, "consecutive failed jobs after which a schedule pauses itself (`0`: never)", ge=0
    )
    # The embedded web server against slow and greedy clients (docs/deployment.md, "Layers").
    web_channel_timeout: int = setting(
        30,
        "seconds a connection may stay silent (idle keep-alive, or a request half sent) before "
        "`scraper serve` closes it",
        gt=0,
    )
    web_connection_limit: int = setting(
        500, "connections `scraper serve` holds open at once; more wait in the backlog", gt=0
    )
    web_max_body_bytes: int = setting(
        64 * 1024,
        "largest request body; a larger one is refused with 413 before it is read "
        "(by `Content-Length`, or as soon as a chunked body passes it)",
        gt=0,
    )
    web_trusted_proxy: frozenset[str] = setting(
        frozenset(),
        "comma-separated addresses or networks of the reverse proxy in front of `scraper serve` "
        "(`127.0.0.1`); only a request from one of them has its `X-Forwarded-For` believed, "
        "so the sign-in throttle counts the real client's address",
        shown="none",
    )
    web_statement_timeout: float = setting(
        10.0,
        "seconds one statement of a web request may run (PostgreSQL `statement_timeout`, "
        "MariaDB `max_statement_time`); past it the request answers 503 with `Retry-After`",
        gt=0,
    )
    web_user_reads: int = setting(
        2,
        "expensive requests (job lists and searches, stats, asset lists, archives, the jobs "
        "page, the dashboard's poll; cancel, retry, bulk and delete, which may wait on a job's "
        "row lock) one user may have running at once; more answer 429 with `Retry-After`",
        gt=0,
    )
    web_reads: int = setting(
        3,
        "expensive requests running at once for all users together; more answer 503 with "
        "`Retry-After` (below the server's 4 threads, so cheap requests always find one; "
        "`/healthz`, `/readyz` and static files have a thread of their own)",
        gt=0,
    )
    # The service's own database sessions (PostgreSQL and MariaDB; SQLite waits 30 s).
    db_lock_timeout: float = setting(
        5.0,
        "seconds a statement of the service waits for a row or table lock (PostgreSQL "
        "`lock_timeout`, MariaDB `innodb_lock_wait_timeout`); a worker's own writes retry",
        gt=0,
    )
    db_startup_wait: float = setting(
        60.0,
        "seconds `scraper worker` waits at start for the database to answer, trying again "
        "with backoff (0.5 s doubling to 5 s), before exiting with status 2 (`0`: one try); "
        "`scraper serve` does not wait: it serves through the outage",
        ge=0,
    )
    db_idle_transaction_timeout: float = setting(
        60.0,
        "seconds a session of the service may sit idle inside a transaction before PostgreSQL "
        "ends it (`idle_in_transaction_session_timeout`)",
        gt=0,
    )
    # Dashboard sign-in sessions (API tokens do not expire this way).
    session_idle_timeout: int = setting(
        30 * 60,
        "seconds a dashboard session may go without a request before it must sign in again "
        "(an open dashboard polls, so it stays signed in)",
        gt=0,
    )
    session_max_age: int = setting(
        12 * 60 * 60,
        "seconds after signing in that a dashboard session ends, however active",
        gt=0,
    )
    # Politeness toward remote sources: who we are, and how hard we may hit one host.
    contact: Annotated[str | None, BeforeValidator(_blank_is_none)] = setting(
        None, "contact (e-mail or URL) put in the User-Agent; Wikimedia asks for one"
    )
    source_urls: Mapping[str, str] = setting(
        {},
        "where a source's API lives, e.g. "
        "`SCRAPER_SOURCE_OPENVERSE_URL=https://api.openverse.org`; "
        "its host is trusted by the address guard",
        env="SCRAPER_SOURCE_<NAME>_URL",
        shown="the public API",
    )
    trusted_hosts: frozenset[str] = setting(
        frozenset(),
        "comma-separated host names exempt from the private-address check (an internal mirror)",
    )
    host_concurrency: int = setting(2, "requests in flight per remote host, per process", gt=0)
    host_delay: float = setting(
        0.5,
        "minimum seconds between two requests to one host, per process (`0` allowed)",
        ge=0,
    )
    job_concurrency: int = setting(
        8,
        "downloads in flight at once inside one job (its pool); hosts stay bound by the two above",
        gt=0,
    )
    # Where downloaded files live (docs/deployment.md, "Several machines").
    storage_url: Annotated[str | None, BeforeValidator(_blank_is_none)] = setting(
        None,
        "where downloaded files live: unset = `downloads/` under the data dir; "
        "`s3://BUCKET/PREFIX` = an S3-compatible bucket; `file:///DIR` = `DIR/downloads/`",
    )
    s3_endpoint_url: Annotated[str | None, BeforeValidator(_blank_is_none)] = setting(
        None,
        "the S3 endpoint of a self-hosted store, e.g. `http://10.0.0.5:8333` (SeaweedFS) or "
        "`http://10.0.0.5:9000` (MinIO); credentials from `AWS_ACCESS_KEY_ID` / "
        "`AWS_SECRET_ACCESS_KEY` (or any source boto3 reads)",
        shown="unset (AWS)",
    )
    s3_region: Annotated[str | None, BeforeValidator(_blank_is_none)] = setting(
        None, "the object store's region", env="AWS_REGION", shown="`us-east-1`"
    )
    retention_days: Annotated[int | None, BeforeValidator(_blank_is_none)] = setting(
        None,
        "finished jobs older than this many days are pruned (hourly, by `scraper serve` and "
        "`ops prune`) with their asset rows and every file no remaining asset references",
        shown="unset (keep every job)",
        gt=0,
    )
    # Not a variable: room for values an embedding program passes in code.
    extra: Mapping[str, Any] = Field(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(explain(exc)) from None

    @field_validator("trusted_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: Any) -> Any:
        """`"Mirror.Internal, ,cache.local"` -> {"mirror.internal", "cache.local"}."""
        return frozenset(h.lower() for h in _comma_items(value))

    @field_validator("web_trusted_proxy", mode="before")
    @classmethod
    def _proxy_list(cls, value: Any) -> Any:
        """`"127.0.0.1, 10.0.0.0/8"` -> {"127.0.0.1/32", "10.0.0.0/8"}; a bad one is refused."""
        try:
            return frozenset(str(ip_network(i, strict=False)) for i in _comma_items(value))
        except ValueError as exc:
            raise ValueError(f"must be IP addresses or networks ({exc})") from None

    @field_validator("storage_url", mode="after")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        if value is not None and not STORAGE_URL.fullmatch(value):
            raise ValueError("must be s3://BUCKET/PREFIX or file:///DIR")
        return value

    @field_validator("source_urls", mode="after")
    @classmethod
    def _tidy_urls(cls, value: Mapping[str, str]) -> dict[str, str]:
        return {name: url.strip().rstrip("/") for name, url in value.items() if url.strip()}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments win over the variables `from_env` was given; no files are read."""
        return init_settings, Environment(settings_cls, _environ.get() or {})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `SCRAPER_*` variables; keyword overrides win (the CLI's `--database-url`)."""
        with _reading(os.environ if env is None else env):
            return cls(**{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def variable(cls, name: str) -> str | None:
        """The environment variable of field `name`; None for a field no variable sets."""
        field = cls.model_fields[name]
        if field.description is None:
            return None
        extra = field.json_schema_extra
        named = extra.get("env") if isinstance(extra, dict) else None
        return str(named) if named else f"{ENV_PREFIX}{name.upper()}"

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the non-None overrides applied (validated like the rest)."""
        values = {k: v for k, v in overrides.items() if v is not None}
        return type(self)(**(dict(self) | values))

    @property
    def user_agent(self) -> str:
        """Descriptive, with a contact: Wikimedia and others refuse generic User-Agents."""
        contact = self.contact or "set SCRAPER_CONTACT"
        return f"scraper/0.1 (media scraper service; {contact})"

    @property
    def downloads_dir(self) -> Path:
        return self.data_dir / "downloads"

    @property
    def fallback_journal(self) -> Path:
        return self.data_dir / "fallback-jobs.jsonl"


class Environment(PydanticBaseSettingsSource):
    """The variables of one mapping, by each field's variable; blank ones are unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = Settings.variable(field_name)
        raw = self.environ.get(variable) if variable else None
        return (raw if raw and raw.strip() else None), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            raw, key, _ = self.get_field_value(field, name)
            if raw is not None:
                values[key] = raw
        urls = source_urls(self.environ)
        return values | ({"source_urls": urls} if urls else {})


def source_urls(environ: Mapping[str, str]) -> dict[str, str]:
    """`SCRAPER_SOURCE_OPENVERSE_URL=https://…` -> {"openverse": "https://…"}."""
    urls = {}
    for key, value in environ.items():
        match = SOURCE_URL_VAR.fullmatch(key)
        if match and value.strip():
            urls[match.group(1).lower()] = value
    return urls


@contextmanager
def _reading(environ: Mapping[str, str]) -> Iterator[None]:
    token = _environ.set(environ)
    try:
        yield
    finally:
        _environ.reset(token)


def explain(exc: ValidationError) -> str:
    """One sentence per bad value, naming its variable: what a person must set instead."""
    return "; ".join(_sentence(error) for error in exc.errors())


def _sentence(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    name = Settings.variable(field) if field in Settings.model_fields else None
    words = {k: "zero" if v == 0 else v for k, v in (error.get("ctx") or {}).items()}
    template = PHRASES.get(error["type"])
    phrase = template.format(**words) if template else error["msg"]
    return f"{name or field} {phrase}, got {error['input']!r}"
