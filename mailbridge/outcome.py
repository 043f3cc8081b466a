"""What happened to one message in the pipeline, and the tally of a batch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

# created: a new ticket; threaded: a new entry on an existing ticket; duplicate: already stored;
# dropped: stored for the record but on no ticket (orphan auto-reply or bounce, our own mail);
# quarantined: a stage failed, the raw bytes wait in quarantine.
OUTCOME_KINDS = ("created", "threaded", "duplicate", "dropped", "quarantined")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of processing one raw message, with the rule that decided it."""

    kind: str
    ticket_code: str | None = None
    rule: str = ""
    detail: str = ""
    queue: str | None = None
    message_id: str | None = None
    route_rule: str = ""
    # Set when a message was quarantined: where it failed and why.
    stage: str | None = None
    error: str | None = None

    def to_json(self, source: str | None = None) -> dict:
        """The `ingest --json` object: queue, ticket (new or existing) and the deciding rule."""
        return {
            "source": source,
            "message_id": self.message_id,
            "outcome": self.kind,
            "queue": self.queue,
            "ticket": self.ticket_code,
            "ticket_is_new": self.kind == "created" if self.ticket_code else None,
            "rule": self.rule,
            "detail": self.detail,
            "route_rule": self.route_rule,
            "stage": self.stage,
            "error": self.error,
        }


class Tally:
    """How many messages of a batch ended each way."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter({kind: 0 for kind in OUTCOME_KINDS})

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.kind] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """`created 3, threaded 5, duplicates 1, dropped 0, quarantined 0`."""
        names = {"duplicate": "duplicates"}
        return ", ".join(f"{names.get(kind, kind)} {self.counts[kind]}" for kind in OUTCOME_KINDS)

    def to_json(self) -> dict:
        return {kind: self.counts[kind] for kind in OUTCOME_KINDS}
