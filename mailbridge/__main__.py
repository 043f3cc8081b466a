"""Run the CLI as `python -m mailbridge`."""

import gc

# Paused before the CLI's imports too; `main` keeps it paused until the command is loaded
# (mailbridge.cli.startup_gc).
gc.disable()

from mailbridge.cli import main  # noqa: E402 - after the collector is paused

main()
