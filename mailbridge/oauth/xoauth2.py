"""The SASL XOAUTH2 initial response Google and Microsoft define for IMAP and SMTP."""

from __future__ import annotations


def xoauth2(user: str, access_token: str) -> str:
    """`user=USER^Aauth=Bearer TOKEN^A^A` (not yet base64: smtplib and imapclient encode it)."""
    return f"user={user}\x01auth=Bearer {access_token}\x01\x01"
