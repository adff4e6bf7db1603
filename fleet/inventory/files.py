"""Which files make an inventory, and the rule that none leaves it silently.

An inventory is ``fleet.yaml`` and ``workloads/<name>.yaml``. Every entry of ``workloads/`` is
either such a file or an error: a workload replaced by a directory, renamed ``x.YAML`` or
``x.yml``, or turned into a dangling symlink would otherwise drop out of the inventory, and the
next rollout would redeploy the control room without its credential. Hidden entries (``.x``:
editor swap files, ``.gitkeep``, fleet's own temporary files while it writes one atomically) are
ignored. A symlink is followed only to a regular file inside the inventory.
"""

from __future__ import annotations

import stat
from pathlib import Path

FLEET_FILE = "fleet.yaml"
WORKLOADS_DIR = "workloads"
SUFFIX = ".yaml"


def workload_entries(root: Path) -> list[Path]:
    """Every entry of ``<root>/workloads`` but hidden ones, sorted by name (none when the
    directory is missing or unusable: :func:`workloads_dir_problem` says why)."""
    try:
        entries = [p for p in (root / WORKLOADS_DIR).iterdir() if not p.name.startswith(".")]
        return sorted(entries, key=lambda p: p.name)  # by name: comparing Paths costs 10x more
    except OSError:
        return []


def workloads_dir_problem(root: Path) -> str | None:
    """What is wrong with ``<root>/workloads`` itself, or None (a missing one is an empty fleet)."""
    directory = root / WORKLOADS_DIR
    if not directory.is_symlink() and not directory.exists():
        return None
    if not directory.is_dir():
        return f"not a directory; {WORKLOADS_DIR}/ holds one <name>{SUFFIX} file per workload"
    outside = _outside(directory, root)
    if outside is not None:
        return f"a symlink to {outside}, outside the inventory; make it a directory"
    try:
        next(directory.iterdir(), None)
    except OSError as error:
        return f"cannot be listed ({(error.strerror or type(error).__name__).lower()}); fix its permissions"
    return None


def file_problem(path: Path, root: Path) -> str | None:
    """Why ``path`` is not a file fleet may read as part of the inventory at ``root``, or None:
    it must be a regular file, or a symlink to one inside the inventory."""
    if path.is_symlink():
        if not path.exists():
            return f"a dangling symlink (to {path.readlink()}); remove it or fix its target"
        outside = _outside(path, root)
        if outside is not None:
            return f"a symlink to {outside}, outside the inventory; copy the file here instead"
    try:
        mode = path.stat().st_mode
    except OSError as error:
        return f"cannot be read ({(error.strerror or type(error).__name__).lower()})"
    if stat.S_ISDIR(mode):
        return "a directory, not a YAML file"
    if not stat.S_ISREG(mode):
        return "not a regular file; an inventory file is plain YAML text"
    return None


def workload_name_problem(path: Path) -> str | None:
    """Why the entry ``path`` of ``workloads/`` is not named like a workload file, or None."""
    stem, dot, suffix = path.name.rpartition(".")
    if dot and stem and suffix.lower() in ("yaml", "yml") and f".{suffix}" != SUFFIX:
        return f"named .{suffix}; rename it to {stem}{SUFFIX} (workload files end in {SUFFIX})"
    if not path.name.endswith(SUFFIX):
        return f"not a workload file; {WORKLOADS_DIR}/ holds only <name>{SUFFIX} files, move it elsewhere"
    return None


def _outside(path: Path, root: Path) -> Path | None:
    """Where ``path`` really is when that is outside ``root``, else None."""
    target = path.resolve()
    return None if target.is_relative_to(root.resolve()) else target
