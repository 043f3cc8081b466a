"""Read Amazon SES notifications (bounce, complaint, delivery) mailed as JSON through Amazon SNS."""

from __future__ import annotations

import json

from mailbridge.parse.lazy_re import lazy_compile
from mailbridge.parse.model import Bounce, BounceRecipient

# SNS wraps lines longer than the SMTP limit with "!" plus a folded continuation; undo that
# before reading the JSON.
WRAP_RE = lazy_compile(r"!\n ")
MAX_JSON = 200_000


def ses_notification(body: str) -> dict | None:
    """The SES notification object in a message body, or None when there is none."""
    if '"notificationType' not in body[:MAX_JSON] and '\\"notificationType' not in body[:MAX_JSON]:
        return None
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start or end - start > MAX_JSON:
        return None
    try:
        data = json.loads(WRAP_RE.sub("", body[start : end + 1]))
        # Raw SNS envelopes carry the SES notification as a JSON string in "Message".
        if isinstance(data, dict) and isinstance(data.get("Message"), str):
            data = json.loads(data["Message"])
    except ValueError:
        return None
    return data if isinstance(data, dict) and "notificationType" in data else None


def ses_bounce(notification: dict) -> Bounce | None:
    """A Bounce from an SES "Bounce" notification; None for complaints and deliveries."""
    if str(notification.get("notificationType", "")).lower() != "bounce":
        return None
    details = notification.get("bounce") or {}
    recipients = tuple(
        BounceRecipient(
            address=str(r.get("emailAddress", "")),
            status=r.get("status") or None,
            action=(r.get("action") or "failed").lower(),
        )
        for r in details.get("bouncedRecipients") or []
        if isinstance(r, dict) and r.get("emailAddress")
    )
    mail = notification.get("mail") or {}
    message_id = (mail.get("commonHeaders") or {}).get("messageId") or mail.get("messageId")
    permanent = str(details.get("bounceType", "")).lower() == "permanent"
    return Bounce(permanent, recipients, str(message_id).strip("<>") if message_id else None)
