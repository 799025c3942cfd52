"""Signing out ends the session on the server: a cookie saved before it no longer works."""

from __future__ import annotations

from flask import Flask

from tests.plugins.web import PASSWORD, WebUsers


def test_a_cookie_saved_before_sign_out_no_longer_signs_in(app: Flask, users: WebUsers) -> None:
    browser = app.test_client()
    response = browser.post("/login", data={"username": users.a.name, "password": PASSWORD})
    assert response.status_code == 302
    saved = browser.get_cookie("session")
    assert saved is not None and browser.get("/").status_code == 200
    browser.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", saved.value)
    again = thief.get("/")
    assert again.status_code == 302 and again.headers["Location"].startswith("/login")
    assert thief.get("/api/dashboard").status_code == 401
