"""`url`: fetch one page and download the media it links to (being written)."""
