"""The provider `[sms] provider` names, built from its settings (one HTTP client per provider)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from mailbridge.config.models import Config
from mailbridge.escalation.sms.base import Provider
from mailbridge.escalation.sms.command import CommandProvider
from mailbridge.escalation.sms.http import HttpProvider
from mailbridge.escalation.sms.log import LogProvider
from mailbridge.escalation.sms.smsapi import SmsapiProvider
from mailbridge.escalation.sms.twilio import TwilioProvider
from mailbridge.store.types import utcnow


def provider_for(config: Config, *, clock: Callable[[], datetime] = utcnow,
                 transport: httpx.BaseTransport | None = None) -> Provider:
    """The configured provider; `transport` replaces the network in tests of the HTTP ones."""
    sms = config.sms
    if sms.provider == "log":
        return LogProvider(config.sms_log_path, clock)
    if sms.provider == "command":
        return CommandProvider(sms.command, sms.timeout_seconds)
    client = httpx.Client(timeout=sms.timeout_seconds, transport=transport,
                          headers={"User-Agent": "mailbridge"}, follow_redirects=False)
    if sms.provider == "http":
        return HttpProvider(sms.http, client)
    if sms.provider == "smsapi":
        return SmsapiProvider(sms.smsapi, client)
    return TwilioProvider(sms.twilio, client)
