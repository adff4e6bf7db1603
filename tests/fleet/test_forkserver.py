"""The forkserver fleet's pools fork their processes from: what it preloads, and Ctrl-C."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = '''
import os
import signal
import sys
import time


def report(path):
    """Runs in a process forked from the forkserver: what it started with."""
    loaded = [name for name in ("fleet.kinds", "fleet.errors") if name in sys.modules]
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    with open(path, "w") as out:
        out.write(" ".join([*loaded, "sigint-ignored" if ignored else "sigint-handled"]))


def forkserver_pid():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat, open(f"/proc/{entry}/cmdline", "rb") as cmd:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                    command = cmd.read()
            except OSError:
                continue
            if parent == os.getpid() and b"forkserver" in command:
                return int(entry)
    return None


if __name__ == "__main__":
    from fleet import forkserver

    forkserver.preload(["fleet.kinds"])
    forkserver.start_forkserver(["fleet.errors"])
    server = forkserver_pid()
    os.kill(server, signal.SIGINT)  # Ctrl-C while it imports, as a terminal sends it to the group
    time.sleep(0.5)
    process = forkserver.forkserver_context([]).Process(target=report, args=(sys.argv[1],))
    process.start()
    process.join(60)
    print("same server" if forkserver_pid() == server else "server replaced")
'''


def test_the_forkserver_preloads_what_every_pool_asked_for_and_ignores_ctrl_c(tmp_path: Path) -> None:
    script, report = tmp_path / "start.py", tmp_path / "report"
    script.write_text(SCRIPT, encoding="utf-8")

    result = subprocess.run(
        [sys.executable, str(script), str(report)], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no KeyboardInterrupt traceback from the server
    assert result.stdout.strip() == "same server"
    assert report.read_text() == "fleet.kinds fleet.errors sigint-ignored"
