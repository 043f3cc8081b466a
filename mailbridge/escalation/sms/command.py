"""The `command` provider: run a local program per SMS (e.g. `gammu-smsd-inject`), never through a shell.

Each argument of `argv` is a template (`{{ sms.to }}`, `{{ sms.text }}`, `{{ sms.id }}`...) and
becomes exactly one argument of the program, so no text can inject a command. Exit 0 means sent;
an exit code listed in `permanent_exit_codes` means never; any other exit, or a timeout, is
retried. A program cannot tell us it sent before: a crash after it ran and before our record runs
it again at the retry (pass `{{ sms.id }}` to a program that can deduplicate).
"""

from __future__ import annotations

import subprocess

from mailbridge.config.sms import CommandConfig
from mailbridge.escalation.sms.base import Outgoing, Permanent, Receipt, Temporary
from mailbridge.escalation.sms.render import render, variables


class CommandProvider:
    name = "command"

    def __init__(self, settings: CommandConfig, timeout: float) -> None:
        self.settings, self.timeout = settings, timeout

    def send(self, message: Outgoing) -> Receipt:
        values = variables(message)
        argv = [render(part, values) for part in self.settings.argv]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise Temporary(f"{argv[0]} did not finish in {self.timeout:g} s") from None
        except OSError as exc:
            raise Permanent(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        answer = " ".join((done.stdout + " " + done.stderr).split())[:300]
        if done.returncode == 0:
            return Receipt("", f"exit 0: {answer}")
        failure = f"{argv[0]} exited {done.returncode}: {answer}"
        if done.returncode in self.settings.permanent_exit_codes:
            raise Permanent(failure)
        raise Temporary(failure)
