"""The `twilio` provider: Twilio's Messages API (form POST, HTTP Basic with the account SID and token).

Twilio's API takes no idempotency key: a crash after Twilio accepted an SMS and before we recorded
it (or a timeout after Twilio took it) sends that SMS again at the retry. That window is documented
in docs/sla.md; SMSAPI's `idx` or the `log` provider do not have it.
"""

from __future__ import annotations

import httpx

from mailbridge.config.sms import TwilioConfig
from mailbridge.escalation.sms.base import Outgoing, Receipt, Temporary, http_failure


class TwilioProvider:
    name = "twilio"

    def __init__(self, settings: TwilioConfig, client: httpx.Client) -> None:
        self.settings, self.client = settings, client

    def send(self, message: Outgoing) -> Receipt:
        settings = self.settings
        url = f"{settings.url.rstrip('/')}/2010-04-01/Accounts/{settings.account_sid}/Messages.json"
        fields = {"To": message.to, "Body": message.text}
        if settings.messaging_service_sid:
            fields["MessagingServiceSid"] = settings.messaging_service_sid
        else:
            fields["From"] = settings.from_number
        try:
            response = self.client.post(url, data=fields, auth=(settings.account_sid, settings.auth_token))
        except httpx.HTTPError as exc:
            raise Temporary(f"{type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise http_failure(response.status_code, response.text)
        try:
            sid = str(response.json().get("sid", ""))
        except ValueError:
            sid = ""
        return Receipt(sid, f"HTTP {response.status_code}: {' '.join(response.text.split())[:300]}")
