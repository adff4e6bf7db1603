"""Help-text conventions: every command ends its ``--help`` with examples.

Use it as ``@app.command(epilog=examples("fleet validate", "fleet validate -i inventory/"))``.
Click rewraps epilogs; the leading ``\\b`` line keeps each example on its own line.
"""

from __future__ import annotations


def examples(*lines: str) -> str:
    """An epilog listing ``lines`` under ``Examples:``, one per line, never rewrapped."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
