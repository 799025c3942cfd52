"""Settings: every variable is read, a bad value names its variable, the docs show the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scraper.config import Settings
from scraper.config_table import configuration_table
from scraper.errors import ConfigError

CONFIGURATION_PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
TABLE_START = "<!-- configuration-table:"
TABLE_END = "<!-- /configuration-table -->"

# (variable, raw value, field, parsed value): one row per variable the model reads.
PARSED = [
    ("SCRAPER_DATABASE_URL", "postgresql+psycopg://u@h/db", "database_url", "postgresql+psycopg://u@h/db"),
    ("SCRAPER_DATA_DIR", "/srv/scraper", "data_dir", Path("/srv/scraper")),
    ("SCRAPER_SECRET_KEY", "s3cret", "secret_key", "s3cret"),
    ("SCRAPER_AUTO_HEAL", " OFF ", "auto_heal", "off"),
    ("SCRAPER_ALLOW_PRIVATE_NETWORKS", "yes", "allow_private_networks", True),
    ("SCRAPER_SECURE_COOKIES", "1", "secure_cookies", True),
    ("SCRAPER_METRICS_TOKEN", "tok", "metrics_token", "tok"),
    ("SCRAPER_LOG_FORMAT", "JSON", "log_format", "json"),
    ("SCRAPER_MAX_CONTENT", "20", "max_content_limit", 20),
    ("SCRAPER_LEASE_SECONDS", "7", "lease_seconds", 7),
    ("SCRAPER_MAX_ATTEMPTS", "5", "max_attempts", 5),
    ("SCRAPER_RETRY_BACKOFF", "0.5", "retry_backoff", 0.5),
    ("SCRAPER_DOWNLOAD_MAX_BYTES", "1024", "download_max_bytes", 1024),
    ("SCRAPER_DOWNLOAD_TIMEOUT", "2.5", "download_timeout", 2.5),
    ("SCRAPER_DOWNLOAD_DEADLINE", "9", "download_deadline", 9.0),
    ("SCRAPER_POLL_INTERVAL", "0.25", "poll_interval", 0.25),
    ("SCRAPER_RECONCILE_INTERVAL", "4", "reconcile_interval", 4.0),
    ("SCRAPER_SCHEDULE_INTERVAL", "2.5", "schedule_interval", 2.5),
    ("SCRAPER_SCHEDULE_PAUSE_AFTER", "0", "schedule_pause_after", 0),
    ("SCRAPER_CONTACT", " ops@example.org ", "contact", "ops@example.org"),
    ("SCRAPER_SOURCE_FEED_URL", "http://127.0.0.1:9/f/", "source_urls", {"feed": "http://127.0.0.1:9/f"}),
    ("SCRAPER_TRUSTED_HOSTS", "A.example, b.example", "trusted_hosts", {"a.example", "b.example"}),
    ("SCRAPER_WEB_TRUSTED_PROXY", "127.0.0.1, 10.0.0.0/8", "web_trusted_proxy",
     {"127.0.0.1/32", "10.0.0.0/8"}),
    ("SCRAPER_HOST_CONCURRENCY", "4", "host_concurrency", 4),
    ("SCRAPER_HOST_DELAY", "0", "host_delay", 0.0),
    ("SCRAPER_JOB_CONCURRENCY", "16", "job_concurrency", 16),
    ("SCRAPER_WEB_CHANNEL_TIMEOUT", "10", "web_channel_timeout", 10),
    ("SCRAPER_WEB_CONNECTION_LIMIT", "900", "web_connection_limit", 900),
    ("SCRAPER_WEB_MAX_BODY_BYTES", "4096", "web_max_body_bytes", 4096),
    ("SCRAPER_WEB_STATEMENT_TIMEOUT", "2.5", "web_statement_timeout", 2.5),
    ("SCRAPER_WEB_USER_READS", "4", "web_user_reads", 4),
    ("SCRAPER_WEB_READS", "8", "web_reads", 8),
    ("SCRAPER_DB_LOCK_TIMEOUT", "1", "db_lock_timeout", 1.0),
    ("SCRAPER_DB_STARTUP_WAIT", "0", "db_startup_wait", 0.0),
    ("SCRAPER_DB_IDLE_TRANSACTION_TIMEOUT", "30", "db_idle_transaction_timeout", 30.0),
    ("SCRAPER_SESSION_IDLE_TIMEOUT", "600", "session_idle_timeout", 600),
    ("SCRAPER_SESSION_MAX_AGE", "3600", "session_max_age", 3600),
    ("SCRAPER_STORAGE_URL", "s3://media/prod", "storage_url", "s3://media/prod"),
    ("SCRAPER_S3_ENDPOINT_URL", " http://10.0.0.5:8333 ", "s3_endpoint_url", "http://10.0.0.5:8333"),
    ("AWS_REGION", "eu-west-1", "s3_region", "eu-west-1"),
    ("SCRAPER_RETENTION_DAYS", "30", "retention_days", 30),
]  # fmt: skip

# (variable, bad raw value, what the message says about it)
REFUSED = [
    ("SCRAPER_LEASE_SECONDS", "0", "must be greater than zero, got '0'"),
    ("SCRAPER_MAX_ATTEMPTS", "-1", "must be greater than zero, got '-1'"),
    ("SCRAPER_RETRY_BACKOFF", "0", "must be greater than zero, got '0'"),
    ("SCRAPER_MAX_CONTENT", "lots", "must be a whole number, got 'lots'"),
    ("SCRAPER_DOWNLOAD_MAX_BYTES", "1.5", "must be a whole number, got '1.5'"),
    ("SCRAPER_DOWNLOAD_TIMEOUT", "soon", "must be a number, got 'soon'"),
    ("SCRAPER_DOWNLOAD_DEADLINE", "0", "must be greater than zero, got '0'"),
    ("SCRAPER_POLL_INTERVAL", "-0.5", "must be greater than zero, got '-0.5'"),
    ("SCRAPER_RECONCILE_INTERVAL", "x", "must be a number, got 'x'"),
    ("SCRAPER_HOST_CONCURRENCY", "0", "must be greater than zero, got '0'"),
    ("SCRAPER_HOST_DELAY", "-1", "must be zero or more, got '-1'"),
    ("SCRAPER_DB_STARTUP_WAIT", "-5", "must be zero or more, got '-5'"),
    ("SCRAPER_JOB_CONCURRENCY", "0", "must be greater than zero, got '0'"),
    ("SCRAPER_RETENTION_DAYS", "0", "must be greater than zero, got '0'"),
    ("SCRAPER_WEB_CONNECTION_LIMIT", "0", "must be greater than zero, got '0'"),
    ("SCRAPER_AUTO_HEAL", "always", "must be 'safe' or 'off', got 'always'"),
    ("SCRAPER_ALLOW_PRIVATE_NETWORKS", "maybe", "must be 1 or 0"),
    ("SCRAPER_SECURE_COOKIES", "2", "must be 1 or 0"),
    ("SCRAPER_STORAGE_URL", "ftp://x", "must be s3://BUCKET/PREFIX or file:///DIR, got 'ftp://x'"),
    ("SCRAPER_WEB_TRUSTED_PROXY", "nginx", "must be IP addresses or networks"),
]


def _documented_table() -> str:
    """The Markdown table between the configuration page's two table markers."""
    text = CONFIGURATION_PAGE.read_text(encoding="utf-8")
    between = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    lines = between.splitlines()[1:]  # the rest of the start marker's line
    return "\n".join(line for line in lines if line.strip())


@pytest.mark.parametrize(("variable", "raw", "name", "value"), PARSED)
def test_each_variable_is_read_into_its_field(
    variable: str, raw: str, name: str, value: Any
) -> None:
    settings = Settings.from_env({variable: raw})
    assert getattr(settings, name) == value
    assert getattr(settings, name) != getattr(Settings(), name)


def test_every_variable_of_the_model_is_covered_here() -> None:
    variables = {Settings.variable(name) for name in Settings.model_fields} - {None}
    covered = {row[0] for row in PARSED} - {"SCRAPER_SOURCE_FEED_URL"}
    assert variables == covered | {"SCRAPER_SOURCE_<NAME>_URL"}


@pytest.mark.parametrize(("variable", "raw", "says"), REFUSED)
def test_a_bad_value_is_refused_with_its_variable_named(variable: str, raw: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: raw})
    assert str(caught.value).startswith(f"{variable} {says}")


def test_blank_variables_mean_the_default_and_unknown_ones_are_ignored() -> None:
    env = {"SCRAPER_DATA_DIR": "", "SCRAPER_LEASE_SECONDS": " ", "SCRAPER_NOT_A_SETTING": "1"}
    assert Settings.from_env(env) == Settings()


def test_keyword_overrides_win_over_the_environment_and_none_is_no_override() -> None:
    env = {"SCRAPER_DATABASE_URL": "sqlite:///env.db", "SCRAPER_DATA_DIR": "/env"}
    settings = Settings.from_env(env, database_url="sqlite:///cli.db", data_dir=None)
    assert (settings.database_url, settings.data_dir) == ("sqlite:///cli.db", Path("/env"))


def test_the_keyword_constructor_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRAPER_LEASE_SECONDS", "9")
    assert Settings(max_attempts=4).lease_seconds == 60
    assert Settings.from_env().lease_seconds == 9


def test_with_overrides_validates_and_keeps_the_rest() -> None:
    settings = Settings(contact="ops@example.org").with_overrides(data_dir="/d", contact=None)
    assert (settings.data_dir, settings.contact) == (Path("/d"), "ops@example.org")
    assert settings.downloads_dir == Path("/d/downloads")
    assert settings.fallback_journal == Path("/d/fallback-jobs.jsonl")
    with pytest.raises(ConfigError, match="SCRAPER_LEASE_SECONDS must be greater than zero"):
        settings.with_overrides(lease_seconds=0)


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        Settings().lease_seconds = 1  # type: ignore[misc]


def test_the_documented_configuration_table_is_rendered_from_the_model() -> None:
    expected = configuration_table()
    assert _documented_table() == expected, (
        "docs/configuration.md's table differs from the settings model; "
        f"replace it with (python -m scraper.config_table):\n\n{expected}\n"
    )
