"""The restricted security contexts every pod and container fleet installs runs with.

Kubernetes' "restricted" Pod Security Standard: not root, no privilege escalation, every
capability dropped, the runtime's default seccomp profile, and a read-only root filesystem (each
component gets an emptyDir where it must write). Exceptions are named where they are made, with
the reason, and listed in ``EXCEPTIONS`` so ``fleet verify`` can tell a deliberate one from a gap.
"""

from __future__ import annotations

from typing import Any

SECCOMP = {"type": "RuntimeDefault"}


def pod_security_context(user: int, *, fs_group: int | None = None) -> dict[str, Any]:
    """A pod's ``securityContext``: non-root ``user``, RuntimeDefault seccomp."""
    context: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": user,
        "runAsGroup": user,
        "seccompProfile": dict(SECCOMP),
    }
    if fs_group is not None:
        context["fsGroup"] = fs_group
    return context


def container_security_context(*, read_only_root: bool = True) -> dict[str, Any]:
    """A container's ``securityContext``: no escalation, no capabilities, read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only_root,
        "seccompProfile": dict(SECCOMP),
    }


EXCEPTIONS: dict[tuple[str, str], str] = {
    ("alloy", "runAsNonRoot"): (
        "with system_logs on, Alloy reads the node's journal, whose files are root:systemd-journal "
        "0640 and whose group id differs between node images: it runs as uid 0 with every "
        "capability dropped, so it reads what root owns and can override no file permission"
    ),
}
"""(component, rule) → why the rule does not hold for that component."""
