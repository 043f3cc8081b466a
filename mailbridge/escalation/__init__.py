"""Escalation: ladders of steps that alert people by e-mail and SMS when a ticket's answer is overdue.

`plan` works out, from a ticket's clocks and events, which steps of its ladder are due when (and
which its clock made unnecessary); `actions` carries a step out inside the claiming transaction
(e-mail through the outbox, SMS rows, a raised priority, a new owner); `sms_text` renders an
escalation SMS from its template; `tick` claims the tickets whose look is due and records each
step once; `report` lists what was done, is due, failed or was skipped; `inbound` reads an
agent's SMS answer (`OK DYN-000123`) that stops a ladder. `sms/` holds the SMS providers behind
one small interface, the text rules (GSM-7 and UCS-2 segments) and the SMS queue with its
sender. It sits beside `pipeline` in the layers: it may import `status`, `outgoing`, `sla`,
`store`, `config` and the pure helpers; only `service` and `cli` import it.
"""
