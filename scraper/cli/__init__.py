"""The `scraper` command: one module per group of commands, each a thin shell over the
service (parse the options, call the library, print what it returns).

service   serve, worker
search    search (no job, no database)
accounts  create-user, reset-password, create-token
schedule  schedule add|list|pause|resume|remove
"""

from scraper.cli import accounts, schedule, search, service
from scraper.cli.base import main

__all__ = ["accounts", "main", "schedule", "search", "service"]
