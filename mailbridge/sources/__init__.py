"""Sources: the ways mail comes in, and nothing else: the SMTP/LMTP listener, IMAP pollers, mail files.

Each source hands raw bytes to `intake` (the spool, or a durable commit) before it tells the
sender anything; none of them parses for a decision beyond the envelope, queues outgoing mail
or touches tickets. `imap_check` logs in to each configured mailbox for `mailbridge imap check`.
A new way to take mail in (a new protocol, a webhook) belongs here. It may import `intake`,
`route` (which address is ours), `config`, the database handle and types of `store` and the
IMAP poller's own state table; never `outgoing`, `sla`, `pipeline`, `service` or the ticket
repository.
"""
