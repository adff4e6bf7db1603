"""A `fleet` command run with a real terminal (a pty) as its stdin, answered at its prompt."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time

from fleet_services import fleet_command


def answer_on_a_terminal(
    env: dict[str, str], command: list[str], question: str, answer: str, timeout: float = 120
) -> tuple[int, str]:
    """Run ``fleet COMMAND`` with a pty as stdin, wait for ``question`` on stderr, then answer:
    ``ctrl-c`` sends SIGINT, ``ctrl-d`` ends the input, anything else is typed. Returns the exit
    code and everything written to stderr."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [*fleet_command(), *command],
            env=env,
            stdin=terminal,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert process.stderr is not None
        errors = b""
        deadline = time.monotonic() + timeout
        while question.encode() not in errors and time.monotonic() < deadline and process.poll() is None:
            if select.select([process.stderr], [], [], 1)[0]:
                errors += os.read(process.stderr.fileno(), 4096)
        assert question.encode() in errors, errors.decode()
        if answer == "ctrl-c":
            process.send_signal(signal.SIGINT)
        elif answer == "ctrl-d":
            os.write(controller, b"\x04")  # at the start of a line: end of input
        else:
            os.write(controller, answer.encode())
        _, rest = process.communicate(timeout=timeout)
    finally:
        os.close(controller)
        os.close(terminal)
    return process.returncode, (errors + rest).decode()
