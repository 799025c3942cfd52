"""Tests of the API sources against recorded responses served on 127.0.0.1."""
