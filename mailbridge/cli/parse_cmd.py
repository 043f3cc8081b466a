"""`mailbridge parse`: show how mailbridge reads mail files (JSON Lines for tools)."""

from mailbridge.cli import app
