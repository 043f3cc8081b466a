"""The `smsapi` provider: SMSAPI.pl's sms.do with an OAuth token, made safe to retry with `idx`.

Every request carries `idx` (a digest of the SMS's key) and `check_idx=1`: SMSAPI then refuses a
second message with the same idx (error 53 in its error list), which we read as "sent before", so
a retry after a crash or a timeout can never send the SMS twice. `test = true` sends `test=1`:
SMSAPI checks the request and answers as usual but sends and charges nothing. Its answer is JSON:
`{"count": 1, "list": [{"id": …, "points": …, "status": "QUEUE"}]}` or `{"error": N, "message": …}`.
"""

from __future__ import annotations

import hashlib

import httpx

from mailbridge.config.sms import SmsapiConfig
from mailbridge.escalation.sms.base import Outgoing, Permanent, Receipt, Temporary, http_failure

# SMSAPI's error for an idx already used with check_idx (within its window): the SMS went out before.
DUPLICATE_IDX = 53
# Errors that SMSAPI lists as its own temporary failures; every other numbered error is about the request.
TEMPORARY_ERRORS = frozenset({201, 999})


def idx_of(key: str) -> str:
    """A short alphanumeric idx for SMSAPI from our key (any characters, any length)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


class SmsapiProvider:
    name = "smsapi"

    def __init__(self, settings: SmsapiConfig, client: httpx.Client) -> None:
        self.settings, self.client = settings, client

    def send(self, message: Outgoing) -> Receipt:
        fields = {"to": message.to.lstrip("+"), "message": message.text, "format": "json", "encoding": "utf-8",
                  "idx": idx_of(message.key), "check_idx": "1"}
        if self.settings.sender:
            fields["from"] = self.settings.sender
        if self.settings.test:
            fields["test"] = "1"
        try:
            response = self.client.post(self.settings.url, data=fields,
                                        headers={"Authorization": f"Bearer {self.settings.token}"})
        except httpx.HTTPError as exc:
            raise Temporary(f"{type(exc).__name__}: {exc}") from None
        answer = " ".join(response.text.split())[:300]
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            return _error(body, answer, response.status_code)
        if not response.is_success:
            raise http_failure(response.status_code, response.text)
        if not isinstance(body, dict) or not body.get("list"):
            raise Temporary(f"unexpected answer: {answer}")
        return Receipt(str(body["list"][0].get("id", "")), answer)


def _error(body: dict, answer: str, status: int) -> Receipt:
    code = body.get("error")
    if code == DUPLICATE_IDX:
        return Receipt("", f"sent before (idx already used): {answer}", duplicate=True)
    if code in TEMPORARY_ERRORS or status >= 500:
        raise Temporary(f"SMSAPI error {code}: {answer}")
    raise Permanent(f"SMSAPI error {code}: {answer}")
