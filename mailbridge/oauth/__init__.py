"""OAuth 2.0 as a user: consent once (`mailbridge oauth login`), then access tokens for XOAUTH2.

`flows` asks for the user's consent (installed-app flow with a loopback redirect and PKCE, or
the device-code flow) and returns the tokens; `token_file` keeps the refresh token in
STATE_DIR/oauth/NAME.json (0600); `access` hands out access tokens, renewing them from the
refresh token before they expire and saying clearly when consent was revoked; `xoauth2` builds
the SASL string IMAP and SMTP send. Used by `sources` (IMAP logins) and `outgoing` (the relay),
so it sits below both; it may import `config` (the [[oauth]] tables), `errors` and httpx.
"""

from mailbridge.oauth.access import OAuthError, UserTokens, user_tokens

__all__ = ["OAuthError", "UserTokens", "user_tokens"]
