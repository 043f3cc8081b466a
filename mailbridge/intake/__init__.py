"""Intake: mail made durable before anyone is told it arrived, and quarantine for what fails later.

`spool` is the SMTP listener's synced queue on disk (a 250 only after it); `durable` commits raw
bytes once per content into the database (an IMAP flag only after it), loads the spool, and
parks failed messages in quarantine. Sources reach the database only through here. It may
import `store`, `errors` and the pure helpers; nothing of parsing, routing, outgoing mail or
the service.
"""
