"""A real HTTP server that records what it is sent and can be told to fail (for webhook tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """Requests a Receiver got, and how many more it should refuse with `fail_status`."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 503


@contextmanager
def receiver() -> Iterator[tuple[str, Received]]:
    """Serve on a free port; yields the URL and the record of what arrived."""
    record = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if record.fail_next > 0:
                record.fail_next -= 1
                self.send_response(record.fail_status)
            else:
                record.requests.append((dict(self.headers), body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/tawasul", record
    finally:
        server.shutdown()
        server.server_close()
