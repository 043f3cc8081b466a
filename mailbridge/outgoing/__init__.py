"""Outgoing mail: what we send, to whom, and getting it delivered exactly once without loops.

`notify` decides which mails a stored message causes (acknowledgement, agents' notices, status
mail) and queues them in the caller's transaction; `loops` refuses automatic mail to automatic
senders and rate-limits it; `templates` and `compose` turn a kind, queue and language into a
MIME message; `outbox` is the queue in the database; `outbox_worker` claims and delivers it
through a `transport` (SMTP relay or a local Maildir). A new kind of outgoing mail starts in
`notify`; a new way of delivering it is a transport. It may import `sla` (the times a mail
states), `route`, `thread`, `store`, `config`, `parse` and the pure helpers; never `pipeline`,
`service`, `sources` or `cli`.
"""
