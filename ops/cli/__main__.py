"""`python -m ops.cli`: the `ops` command."""

from ops.cli import main

main()
