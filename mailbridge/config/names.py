"""The ticket priorities and types the config's values are chosen from, without pydantic.

Here rather than in `classify` so that `mailbridge tickets` can list them in its options
without importing the config's models (issue 17).
"""

PRIORITIES = ("routine", "urgent", "critical")
TYPES = ("question", "incident", "petition", "complaint", "claim")
