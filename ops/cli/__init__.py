"""The `ops` command: one module per group of commands, each a thin shell over the ops
library (parse the options, call the library, print the `Outcome` it returns).

schema    check-schema, init-db, migrate
jobs      jobs, reconcile
prune     prune
doctor    doctor
trace     trace, smoke
storage   storage migrate, storage create-bucket
"""

from ops.cli import doctor, jobs, prune, schema, storage, trace
from ops.cli.base import main

__all__ = ["doctor", "jobs", "main", "prune", "schema", "storage", "trace"]
