"""Agents answering from their mail client: relay to the customer, notes and commands, agent-opened tickets.

Owns what an agent's mail does once threading has placed it: whether it may act as the agent
(`trust`: the signed thread proof, and DKIM/DMARC from a trusted MTA when configured), the `#`
commands at its top (`commands`, pure), the relayed answer (`relay`, `html`), tickets an agent
opens for a customer (`opening`: `#fwd`, `#phone`), a customer asking for the status by mail
(`status_mail`), and the periodic work on agents' tickets (`ticks`: closing resolved tickets,
reminding of unconfirmed phone tickets). Sits between `pipeline` (which calls it) and `status`:
it may import `status`, `outgoing`, `sla`, `thread`, `ownership`, `store`, `config`, `parse`
and the pure helpers below them; nothing below it imports it.
"""
