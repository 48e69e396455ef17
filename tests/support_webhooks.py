"""A webhook receiver for tests: a real HTTP server on loopback, in a thread, that verifies every
message with the Standard Webhooks reference library (as a firm's receiver would), answers as
scripted (``failures`` 500s first), and records what it accepted."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    """A loopback HTTP server that verifies signatures; ``failures`` answers are 500 first."""

    def __init__(self) -> None:
        self.secret = ""
        self.failures = 0
        self.accepted: list[tuple[str, str, str]] = []  # (webhook-id, type, journal hash)
        self.refused_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {key: value for key, value in self.headers.items()}
                try:
                    document = Webhook(receiver.secret).verify(body, headers)
                except WebhookVerificationError:
                    receiver.refused_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                if receiver.failures:
                    receiver.failures -= 1
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"down for maintenance")
                    return
                assert document["id"] == self.headers["webhook-id"]
                receiver.accepted.append(
                    (document["id"], document["type"], document["journal_hash"])
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
