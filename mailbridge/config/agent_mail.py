"""`[agent_mail]`: how agents' answers by mail are relayed, who is told, and when resolved tickets close."""

from typing import Literal

from pydantic import Field, StrictBool, StrictInt

from mailbridge.config.tables import Table

MIB = 1024 * 1024


class AgentMailSection(Table):
    """`[agent_mail]`: relay, notices, ownership, phone confirmations and automatic closing."""

    # "owner": notices of a ticket go to its owner when it has one, to every agent otherwise;
    # "all": always to every agent of the queue.
    notices_to: Literal["owner", "all"] = "owner"
    # The other agents of the queue get a short notice when one of them answered a customer.
    notify_answered: StrictBool = True
    # A customer's attachments are attached to the agents' notices up to this many bytes in
    # all (the rest is only listed); 0 lists them without attaching any.
    notice_attachments_max_bytes: StrictInt = Field(default=10 * MIB, ge=0)
    # Images shown inside an agent's mail (inline, or named by a Content-ID) smaller than this
    # are signature logos or tracking pixels: they are not relayed to the customer.
    relay_min_inline_image_bytes: StrictInt = Field(default=10 * 1024, ge=0)
    # A resolved ticket closes by itself after this many days without a customer reply (with
    # the "closed" mail); 0 = never.
    auto_close_days: StrictInt = Field(default=7, ge=0)
    # A ticket taken by phone (#phone) must be confirmed by the customer in writing within this
    # many working days of the queue's calendar; otherwise the agent who took it is reminded.
    phone_confirm_days: StrictInt = Field(default=1, ge=1, le=60)
    # How often `serve` looks for resolved tickets to close and phone tickets to remind of.
    tick_seconds: StrictInt = Field(default=60, ge=1, le=3600)
