"""The configuration table of docs/configuration.md, rendered from the settings model's fields.

`python -m scraper.config_table` prints it; a test fails when the page's copy differs.
"""

from __future__ import annotations

from pydantic.fields import FieldInfo

from scraper.config import Settings

HEADER = "| variable | default | meaning |\n|---|---|---|"


def shown_default(field: FieldInfo) -> str:
    """The default as a reader wants it: `unset`, `0`/`1` for flags, else the value in code."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and extra.get("shown"):
        return str(extra["shown"])
    value = field.get_default(call_default_factory=True)
    if value is None or value == frozenset():
        return "unset"
    if isinstance(value, bool):
        return f"`{int(value)}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def configuration_table(settings_cls: type[Settings] = Settings) -> str:
    """One Markdown row per environment variable, in the model's field order."""
    rows = [HEADER]
    for name, field in settings_cls.model_fields.items():
        variable = settings_cls.variable(name)
        if variable:
            rows.append(f"| `{variable}` | {shown_default(field)} | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(configuration_table())
