"""Tests of the web app: API, accounts, dashboard, browser."""
