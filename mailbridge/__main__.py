"""Run the CLI as `python -m mailbridge`."""

from mailbridge.cli import main

main()
