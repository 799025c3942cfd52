"""The `ops` command: one module per group of commands, each a thin shell over the ops
library (parse the options, call the library, print the `Outcome` it returns).

schema    check-schema, init-db, migrate
jobs      jobs, reconcile
prune     prune
doctor    doctor
trace     trace, smoke
storage   storage migrate, storage create-bucket

Each module is imported when one of its commands runs (`ops.cli.base.COMMANDS`), so that
`ops --help` and every command pay only for what they use.
"""

from ops.cli.base import main

__all__ = ["main"]
