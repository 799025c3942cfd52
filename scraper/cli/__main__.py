"""`python -m scraper.cli`: the `scraper` command."""

from scraper.cli import main

main()
