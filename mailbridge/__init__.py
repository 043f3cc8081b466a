"""mailbridge: an email-to-ticket daemon that never loses, loops on or mis-threads a message."""

__version__ = "0.1.0"
