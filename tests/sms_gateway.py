"""A local SMS gateway for tests: an HTTP server on a free loopback port that records every request.

It answers like the gateway a test names: `generic` (200 with a message id), `smsapi` (JSON, and
error 53 for an idx already used with check_idx=1, as SMSAPI documents) or `twilio` (201 with a
sid). `answers` queues special answers for the next requests: a status and body, `"hang"` (no answer
before the client's timeout), or `("before", f)` / `("after", f)`: `f` is run (e.g. to kill the
sender) before the gateway takes the message (which it then drops unanswered) or after it took it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Gateway:
    kind: str = "generic"
    requests: list[Request] = field(default_factory=list)
    # Messages the gateway took (what a phone would receive), in order.
    accepted: list[dict] = field(default_factory=list)
    answers: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Gateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                gateway._handle(self)

            do_GET = do_PUT = do_POST

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(handler.command, handler.path, dict(handler.headers.items()), handler.rfile.read(length))
        with self.lock:
            self.requests.append(request)
            special = self.answers.pop(0) if self.answers else None
        if isinstance(special, tuple) and special[0] == "before":
            special[1]()
            return
        if isinstance(special, tuple) and special[0] == "after":
            status, body = self._normal(request)
            special[1]()
            special = (status, body)
        if special == "hang":
            time.sleep(5)
            return
        status, body = special if special else self._normal(request)
        payload = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass

    def _normal(self, request: Request) -> tuple[int, object]:
        with self.lock:
            if self.kind == "smsapi":
                form = request.form
                if form.get("check_idx") == "1" and any(m.get("idx") == form.get("idx") for m in self.accepted):
                    return 200, {"error": 53, "message": "Message with this idx was already sent"}
                self.accepted.append(form)
                return 200, {"count": 1, "list": [{"id": f"smsapi-{len(self.accepted)}", "points": 0.16,
                                                   "number": form.get("to"), "status": "QUEUE"}]}
            if self.kind == "twilio":
                form = request.form
                self.accepted.append(form)
                return 201, {"sid": f"SM{len(self.accepted):032d}", "status": "queued", "to": form.get("To")}
            self.accepted.append({"headers": request.headers, "body": request.body.decode("utf-8")})
            return 200, {"id": f"msg-{len(self.accepted)}"}


def gateway(kind: str = "generic") -> Gateway:
    return Gateway(kind).start()


def wait(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)
