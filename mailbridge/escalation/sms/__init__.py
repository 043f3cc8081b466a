"""SMS: the text rules, the providers behind one small interface, and the queue they send from.

`text` fits a text into GSM-7 or UCS-2 segments (transliterating when asked); `base` is the
interface every provider implements (`send(message) -> Receipt`, raising `Permanent` or
`Temporary`); `log`, `http`, `smsapi`, `twilio` and `command` are the providers (`render` fills
their request templates) and `choose` picks the configured one; `queue` keeps SMS rows in the
database (queued in the step's transaction, claimed by lease) and `sender` delivers the due
ones. It may import `store`, `config` and `errors`, and httpx; the rest of `escalation`, the
service and the CLI use it.
"""
