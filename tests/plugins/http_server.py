"""The `http_server` fixture (a real HTTP server on 127.0.0.1 serving recorded responses)."""
