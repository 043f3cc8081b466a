"""The SMS webhook inside `serve`: a small HTTP endpoint where the gateway posts incoming SMS.

It speaks just enough HTTP/1.1 for a gateway's callback: one request per connection, a GET
query or a form or JSON POST body (at most 64 KiB) on `[sms.inbound] path`, authorised by the
shared `token` (`?token=` or the `X-Mailbridge-Token` header, compared in constant time). What
the SMS means is `escalation.inbound`'s job. Off unless `[sms.inbound] listen` is set; run it
behind a TLS proxy when the gateway reaches it over the internet.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from urllib.parse import parse_qsl, urlsplit

from mailbridge.config.models import Config
from mailbridge.errors import ListenError
from mailbridge.escalation import inbound
from mailbridge.store.db import Database
from mailbridge.store.types import utcnow

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
READ_TIMEOUT = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 500: "Internal Server Error"}


async def start(*, db: Database, config: Config) -> asyncio.Server | None:
    """Listen on `[sms.inbound] listen`, or do nothing when it is empty."""
    settings = config.sms.inbound
    if not settings.listen:
        return None
    host, port = settings.address

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, text = await asyncio.wait_for(_request(reader, db=db, config=config), READ_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, ValueError, ConnectionError):
            status, text = 400, "bad request"
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: the gateway retries on 5xx
            log.error("SMS webhook failed: %s", exc)
            status, text = 500, "try again later"
        await _answer(writer, status, text)

    try:
        server = await asyncio.start_server(serve_one, host, port)
    except OSError as exc:
        raise ListenError(f"cannot listen for SMS on {settings.listen}: {exc.strerror or exc}") from None
    bound = server.sockets[0].getsockname()
    log.info("SMS webhook on http://%s:%d%s", bound[0], bound[1], settings.path)
    return server


async def _request(reader: asyncio.StreamReader, *, db: Database, config: Config) -> tuple[int, str]:
    method, target, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
    headers = {}
    while (line := (await reader.readline()).decode("latin-1").strip()):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    if length > MAX_BODY:
        return 413, "too large"
    body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    settings = config.sms.inbound
    if url.path != settings.path:
        return 404, "not found"
    if method not in ("GET", "POST"):
        return 405, "GET or POST"
    query = dict(parse_qsl(url.query))
    token = headers.get("x-mailbridge-token") or query.pop("token", "")
    if not hmac.compare_digest(token.encode(), settings.token.encode()):
        return 403, "forbidden"
    fields = {**query, **_body_fields(body, headers.get("content-type", ""))}
    answer = await asyncio.to_thread(inbound.handle, fields, db=db, config=config, now=utcnow())
    log.info("SMS webhook: %s", answer.text)
    if "AccountSid" in fields and answer.status == 200:
        # Twilio reads the answer as TwiML (an SMS to send back): an empty one sends nothing.
        return 200, TWIML_EMPTY
    return answer.status, answer.text


def _body_fields(body: bytes, content_type: str) -> dict[str, str]:
    if not body:
        return {}
    if "json" in content_type:
        data = json.loads(body)
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return dict(parse_qsl(body.decode("utf-8")))


async def _answer(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    payload = (text + "\n").encode("utf-8")
    kind = "text/xml" if text == TWIML_EMPTY else "text/plain; charset=utf-8"
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode("ascii")
    try:
        writer.write(head + payload)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    except ConnectionError:
        pass
