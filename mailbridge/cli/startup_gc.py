"""The garbage collector paused while the CLI starts, and resumed before the command runs.

Start-up makes some hundred thousand objects (modules, classes, typer's and click's command
tree) that live until the process ends; the collections their allocation triggers find nothing
to free and were ~4 % of `mailbridge parse`'s instructions (issue 17). The entry points pause
collection; the command group resumes it once the command is loaded, first freezing what
start-up made so that later collections (a long `serve`, a large `ingest`) skip it.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Stop collecting until `resume`; for the process's entry point, which owns the collector."""
    global _paused
    gc.disable()
    _paused = True


def resume() -> None:
    """Collect again if `pause` stopped it; what exists now is kept out of later collections."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
