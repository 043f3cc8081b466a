"""Sources: the ways mail comes in (files now; the SMTP listener and IMAP poller later)."""
