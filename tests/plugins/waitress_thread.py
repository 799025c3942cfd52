"""waitress serving a WSGI app on a free 127.0.0.1 port from a thread of the test process."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from waitress import wasyncore
from waitress.server import create_server


@contextlib.contextmanager
def waitress_in_thread(app: Any, **options: Any) -> Iterator[Any]:
    """The server (typed Any: waitress's stubs miss `effective_port`, `trigger`, `_map`),
    closed on exit from its own loop thread: closing its sockets from here races select()."""
    server: Any = create_server(app, host="127.0.0.1", port=0, **options)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield server
    finally:

        def close_everything() -> None:
            server.task_dispatcher.shutdown()
            wasyncore.close_all(server._map)

        server.trigger.pull_trigger(close_everything)
        thread.join(10)
