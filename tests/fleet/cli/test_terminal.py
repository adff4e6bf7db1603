"""fleet on a real terminal (a pty, 80 columns by 24 rows): the prompt answered by hand, the live
view of a rollout too big for the screen, names and ids never cut, and NO_COLOR."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pyte
import pytest
from fleet_services import fleet_command, fleet_env, write_script

ROWS, COLUMNS = 24, 80
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
SGR = re.compile(r"\x1b\[([0-9;]*)m")
ROLLOUT_ID = re.compile(r"\br-\d{8}-\d{4}-[0-9a-f]{4}\b")
LONG = [f"checkout-staging-eu-west-1-blue-{n:02d}" for n in range(1, 25)]  # 35 characters each
FAILING = LONG[7]

WORKLOAD = """apiVersion: fleet/v1
kind: Workload
name: {name}
spec:
  cloud: aws
  region: eu-west-1
  account_id: "123456789012"
  environment: staging
  labels: {{team: checkout}}
"""


def run_in_terminal(
    env: dict[str, str], *args: str, answer: bytes | None = None, timeout: float = 120
) -> tuple[int, str, list[list[str]]]:
    """Run fleet with stdin, stdout and stderr on a fresh 80x24 pty; type ``answer`` when it asks.

    Returns the exit code, everything the terminal received, and the screens a VT100 emulator
    (pyte) showed after each chunk of output: what a user saw, redraws and all."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    process = subprocess.Popen(
        [*fleet_command(), *args],
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    screen = pyte.Screen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    received = b""
    screens: list[list[str]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not chunk:
                    break
                received += chunk
                stream.feed(chunk)
                screens.append(list(screen.display))
                if answer is not None and b"[y/N]" in received:
                    os.write(controller, answer)
                    answer = None
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return code, received.decode("utf-8", "replace"), screens


def plain(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "")


@pytest.fixture(scope="module")
def big_inventory(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example inventory with 24 more workloads with long names; one of them fails."""
    from inventories import copy_example

    root = tmp_path_factory.mktemp("terminal")
    inventory = copy_example(root / "inventory")
    for name in LONG:
        (inventory / "workloads" / f"{name}.yaml").write_text(WORKLOAD.format(name=name), encoding="utf-8")
    script = write_script(
        root / "script.json",
        default={"duration": 0.15},
        stacks={FAILING: {"duration": 0.15, "fail": "helm release loki timed out"}},
    )
    return inventory, script


def _env(inventory: Path, script: Path, **extra: str) -> dict[str, str]:
    env = fleet_env(inventory, script, FLEET_WORKERS="4", TERM="xterm-256color", **extra)
    for size in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"):
        env.pop(size, None)  # the terminal's own size, as a user's shell would have it
    env.update(extra)
    return env


def test_the_prompt_is_answered_and_the_live_view_fits_80_columns(big_inventory: tuple[Path, Path]) -> None:
    inventory, script = big_inventory
    code, received, screens = run_in_terminal(
        _env(inventory, script),
        "rollout",
        "--all",
        "--canary",
        "1",
        "--wave-size",
        "6",
        "--failure-budget",
        "30",
        answer=b"y\n",
    )
    text = plain(received)
    assert code == 1, text[-3000:]  # a stack failed
    assert "Start this rollout? [y/N]" in text
    [rollout_id, *_] = ROLLOUT_ID.findall(text)
    # While it ran, every screen showed the whole frame: its title, no overflow "...", and every
    # name that was on screen whole.
    running = [shown for shown in screens if any(f"rollout {rollout_id}  running" in line for line in shown)]
    assert len(running) >= 3, "the live view redraws while the rollout runs"
    for shown in running:
        assert not any(line.strip() in ("...", "…") for line in shown), "\n".join(shown)
        for line in shown:
            assert set(re.findall(r"checkout-[\w-]*", line)) <= set(LONG), line
    # The last screen: finished waves share a line, the failed stack stays with its error, the id whole.
    last = "\n".join(line.rstrip() for line in screens[-1])
    assert "…" not in last, last
    assert "controlroom to wave 1: succeeded (8 succeeded)" in last, last
    assert re.search(rf"{FAILING}\s+failed\s+\S+\s+helm release loki timed\s+out", last), last
    assert f"rollout {rollout_id} failed: 27 succeeded, 1 failed" in last, last

    # Status and history at 80 columns: every name and the id whole, on one line each.
    code, status, _screens = run_in_terminal(_env(inventory, script), "status")
    status = plain(status)
    assert code == 0, status
    for name in LONG:
        assert re.search(rf"^{name}\s", status, re.M), status
    assert rollout_id in status and "…" not in status
    code, history, _screens = run_in_terminal(_env(inventory, script), "history")
    assert code == 0 and rollout_id in plain(history) and "…" not in plain(history), plain(history)


@pytest.mark.parametrize("no_color", [False, True])
def test_no_color_leaves_colours_out_of_the_live_view(
    big_inventory: tuple[Path, Path], no_color: bool
) -> None:
    inventory, script = big_inventory
    extra = {"NO_COLOR": "1"} if no_color else {}
    code, screen, _screens = run_in_terminal(
        _env(inventory, script, **extra), "rollout", "search-staging", "--yes", "--force"
    )
    assert code == 0, plain(screen)
    # The id is written whole, never split by highlighting codes around its digits.
    assert ROLLOUT_ID.findall(plain(screen))
    assert len(ROLLOUT_ID.findall(screen)) == len(ROLLOUT_ID.findall(plain(screen)))
    colours = [
        params
        for params in SGR.findall(screen)
        if any(p in {str(n) for n in (*range(30, 38), 38, *range(90, 98))} for p in params.split(";"))
    ]
    assert bool(colours) is not no_color, colours
