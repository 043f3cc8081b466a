"""Business time and SLA clocks: calendars, deemed receipt, response and resolution targets.

`bizcal` (opening hours, holidays, business-time arithmetic), `clockmath` (clocks computed from
a ticket's event log) and `present_clocks` (clocks as text and JSON) are pure: they take `now`
and their inputs as arguments and import nothing of mailbridge outside them, no database,
configuration or network. `clocks` is the one module here that touches the database: it loads a
ticket's events, computes its clocks and stores the due times that indexed lookups use. A new
kind of clock or target belongs in `clockmath`; a new calendar rule in `bizcal`.
"""
