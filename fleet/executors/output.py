"""An attempt's engine output, as the journal keeps it: scrubbed of secrets and size-capped.

The worker hands an :class:`OutputLog` to the engine as its event sink; every line is scrubbed as
it arrives (the engine scrubs the secrets it knows; this adds every secret-looking value of the
worker's environment), stamped with the seconds since the attempt started, and kept up to a cap:
past it the oldest lines go, since the end of a failing run says most.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping

OUTPUT_MAX_CHARS = 64_000
"""At most this much output is kept per attempt (the newest lines)."""

LINE_MAX_CHARS = 2_000
SCRUBBED = "***"
_SECRET_NAME = re.compile(r"PASS(WORD|PHRASE)?|SECRET|TOKEN|(^|_)KEY($|_)|CREDENTIAL|PRIVATE", re.IGNORECASE)
_MIN_SECRET_CHARS = 4


def environment_secrets(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Values of the variables whose names look secret (``*PASSWORD*``, ``*TOKEN*``, ``*_KEY``...)."""
    environ = os.environ if environ is None else environ
    values = {value for name, value in environ.items() if value and _secret_name(name)}
    return tuple(sorted((v for v in values if len(v) >= _MIN_SECRET_CHARS), key=len, reverse=True))


@functools.lru_cache(maxsize=1024)
def _secret_name(name: str) -> bool:
    # Every job scans the environment; a name's verdict never changes.
    return _SECRET_NAME.search(name) is not None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, SCRUBBED)
    return text


class OutputLog:
    """Collects one attempt's output lines (thread-safe), scrubbed and capped."""

    def __init__(
        self,
        secrets: Iterable[str] = (),
        *,
        limit: int = OUTPUT_MAX_CHARS,
    ) -> None:
        self.secrets = tuple(sorted(set(secrets), key=len, reverse=True))
        self.limit = limit
        self._lines: deque[str] = deque()
        self._size = 0
        self.dropped = 0
        """Characters of the oldest lines dropped to keep within ``limit``."""
        self._start = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        """Keep ``line`` (an engine event sink)."""
        self.add(line)

    def add(self, line: str) -> None:
        text = scrub(line.rstrip("\n"), self.secrets)
        if len(text) > LINE_MAX_CHARS:
            text = text[: LINE_MAX_CHARS - 1] + "…"
        stamped = f"[{time.monotonic() - self._start:7.1f}s] {text}"
        with self._lock:
            self._lines.append(stamped)
            self._size += len(stamped) + 1
            while self._size > self.limit and len(self._lines) > 1:
                dropped = self._lines.popleft()
                self._size -= len(dropped) + 1
                self.dropped += len(dropped) + 1

    def text(self) -> str:
        """Everything kept, one line each."""
        with self._lock:
            return "\n".join(self._lines)
