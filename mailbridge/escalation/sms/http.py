"""The generic `http` provider: one request per SMS, its URL, headers and body from templates.

Covers most gateways (a form or JSON POST with a token header). The SMS's key goes in the
`idempotency_header` (by default `Idempotency-Key`), so a gateway that honours one never sends a
retry twice; with one that does not, a crash between its answer and our record resends the SMS.
"""

from __future__ import annotations

import httpx

from mailbridge.config.sms import HttpProviderConfig
from mailbridge.escalation.sms.base import Outgoing, Receipt, Temporary, http_failure
from mailbridge.escalation.sms.render import render, variables


class HttpProvider:
    """POST (or GET/PUT) to one URL; any 2xx answer means the gateway took the SMS."""

    name = "http"

    def __init__(self, settings: HttpProviderConfig, client: httpx.Client) -> None:
        self.settings, self.client = settings, client

    def send(self, message: Outgoing) -> Receipt:
        values = variables(message)
        settings = self.settings
        headers = {name: render(value, values) for name, value in settings.headers.items()}
        if settings.idempotency_header:
            headers[settings.idempotency_header] = message.key
        fields = {name: render(value, values) for name, value in settings.form.items()}
        body = {name: render(value, values) for name, value in settings.json_body.items()}
        request = {"headers": headers}
        if settings.method == "GET":
            request["params"] = fields
        elif body:
            request["json"] = body
        else:
            request["data"] = fields
        try:
            response = self.client.request(settings.method, render(settings.url, values), **request)
        except httpx.HTTPError as exc:
            raise Temporary(f"{type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise http_failure(response.status_code, response.text)
        return Receipt(_message_id(response), f"HTTP {response.status_code}: {' '.join(response.text.split())[:300]}")


def _message_id(response: httpx.Response) -> str:
    """The gateway's id for the SMS, where its JSON answer names one (`id`, `message_id`, `sid`)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    return str(next((body[k] for k in ("id", "message_id", "messageId", "sid") if body.get(k)), ""))[:200]
