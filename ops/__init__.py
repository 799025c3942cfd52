"""The ops toolkit: schema checks and repair, tracing, diagnosis, for the scraper service."""
