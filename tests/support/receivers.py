"""Local endpoints that record what kuchikomi sends them."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """A local HTTP endpoint that records JSON POSTs (body, headers, arrival time);
    answers 500 to the first `fail_first`."""

    def __init__(self, fail_first: int = 0, port: int = 0):
        self.received: list[dict] = []
        self.raw: list[tuple[dict, bytes, float]] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    if not failing:
                        receiver.raw.append((dict(self.headers), body, time.time()))
                        receiver.received.append(json.loads(body) if body.startswith(b"{") else body)
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def alerts(self) -> list[dict]:
        """The alerts inside the messages received (a message may group several)."""
        return [alert for message in self.received for alert in message["alerts"]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
