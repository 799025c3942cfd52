"""Media scraper service: submit a search, a worker downloads the media, the database records it."""

__version__ = "0.1.0"
