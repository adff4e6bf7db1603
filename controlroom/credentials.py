"""The workloads' credentials for the central Mimir: one random password per workload, a reader
password for the query path, and the gateway's two htpasswd Secrets built from their bcrypt hashes
(at a cost chosen for long random machine passwords: see ``BCRYPT_COST``).

The write-path htpasswd holds exactly the inventory's workloads (invariant 5 in docs/architecture.md); the
read path has its own file with only the reader, so a workload's credential cannot query and the
reader cannot write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

HTPASSWD_SECRET = "mimir-gateway-htpasswd"
READER_HTPASSWD_SECRET = "mimir-gateway-reader-htpasswd"
ROTATION_HTPASSWD_SECRET = "mimir-gateway-rotation-htpasswd"
"""The second write-path htpasswd the gateway asks when the first refuses: the next passwords of
workloads whose credential is being rotated (old and new both authenticate during the overlap).
Empty while nothing rotates."""
HTPASSWD_KEY = ".htpasswd"
READER_USERNAME = "fleet-reader"
PASSWORD_LENGTH = 40
"""40 letters and digits: 238 bits of randomness."""
BCRYPT_COST = 5
"""The gateway checks one bcrypt hash per request, so the cost is CPU per request, and with the
default 10 eight clients sending wrong passwords slowed every push tenfold. A high cost protects
guessable human passwords from an attacker holding the hashes; these passwords are 238-bit random
strings no amount of hashing speed makes guessable, so cost 5 (~3 ms a check instead of ~80 ms)
gives up nothing and keeps the gateway's CPU for pushes. ``$2a$`` is the prefix every crypt(3)
that nginx may call knows (glibc's libxcrypt on Debian, musl's on the Alpine gateway image)."""

_STANDARD_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT_B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def htpasswd_hash(password: str, cost: int = BCRYPT_COST) -> str:
    """The bcrypt hash of ``password`` for an htpasswd line, the same for the same password.

    The salt is derived from the password (HMAC-SHA256), so re-rendering does not churn the
    Secret. A salt only defeats precomputed tables and tells equal passwords apart; neither
    applies to unique 238-bit random passwords.
    """
    digest = hmac.new(password.encode(), b"fleet-htpasswd-salt", hashlib.sha256).digest()[:16]
    salt = base64.b64encode(digest).decode()[:22].translate(str.maketrans(_STANDARD_B64, _BCRYPT_B64))
    return bcrypt.hashpw(password.encode(), f"$2a${cost:02d}${salt}".encode()).decode()


def htpasswd(hashes: Mapping[str, str]) -> str:
    """htpasswd text: one ``user:bcrypt-hash`` line per user, sorted by user."""
    return "".join(f"{user}:{hashes[user]}\n" for user in sorted(hashes))


def _password(name: str, opts: pulumi.ResourceOptions) -> random.RandomPassword:
    # Letters and digits only: safe in htpasswd, URLs and Alloy strings without escaping.
    return random.RandomPassword(name, length=PASSWORD_LENGTH, special=False, opts=opts)


def _htpasswd_secret(
    resource_name: str,
    secret_name: str,
    namespace: pulumi.Input[str],
    text: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    """A Secret the gateway mounts: ``text`` under the key ``.htpasswd``."""
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=secret_name,
            namespace=namespace,
            labels={"app.kubernetes.io/managed-by": "fleet"},
        ),
        type="Opaque",
        string_data={HTPASSWD_KEY: text},
        opts=opts,
    )


def password_name(workload: str, generation: int) -> str:
    """The RandomPassword of ``workload``'s password ``generation`` (0 keeps the first name)."""
    return f"cred-{workload}" if generation == 0 else f"cred-{workload}-{generation}"


@dataclass(frozen=True)
class CredentialsArgs:
    workloads: Sequence[str]
    """The inventory's workload names; each is a username and a Mimir tenant."""
    namespace: pulumi.Input[str]
    """Namespace of the Mimir gateway, where its htpasswd Secrets live."""
    generations: Mapping[str, tuple[int, int | None]] = field(default_factory=dict)
    """Per workload, its current password generation and the next one while it rotates
    (absent: ``(0, None)``). A rotating workload keeps both passwords: the current one in the
    main htpasswd, the next in the rotation htpasswd, and exports the next."""


class Credentials(pulumi.ComponentResource):
    """Per-workload passwords, the reader password, and the gateway's htpasswd Secrets."""

    passwords: dict[str, pulumi.Output[str]]
    """Secret, per workload: the password it pushes with (the next one while it rotates). The
    program publishes each as an output of its own (``credential-<workload>``), so fleet hands a
    workload stack its own password and no other."""
    reader: pulumi.Output[dict[str, str]]
    """Secret: ``{"username": "fleet-reader", "password": ...}``."""
    reader_password: pulumi.Output[str]
    htpasswd_secret: k8s.core.v1.Secret
    reader_htpasswd_secret: k8s.core.v1.Secret
    rotation_htpasswd_secret: k8s.core.v1.Secret

    def __init__(self, name: str, args: CredentialsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:controlroom:Credentials", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        workloads = sorted(set(args.workloads))
        # Names fixed by the contract with the journal's generations and with `fleet verify`.
        generations = {workload: args.generations.get(workload, (0, None)) for workload in workloads}
        passwords = {
            workload: _password(password_name(workload, current), child)
            for workload, (current, _) in generations.items()
        }
        upcoming = {
            workload: _password(password_name(workload, following), child)
            for workload, (_, following) in generations.items()
            if following is not None
        }
        reader = _password("reader", child)

        hashes: dict[str, Any] = {w: p.result.apply(htpasswd_hash) for w, p in passwords.items()}
        write_file: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.all(**hashes).apply(htpasswd))
        next_hashes: dict[str, Any] = {workload: p.bcrypt_hash for workload, p in upcoming.items()}
        rotation_file: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(**next_hashes).apply(htpasswd)
        )
        reader_file: pulumi.Output[str] = pulumi.Output.secret(
            reader.result.apply(lambda password: htpasswd({READER_USERNAME: htpasswd_hash(password)}))
        )
        self.htpasswd_secret = _htpasswd_secret(
            f"{name}-htpasswd", HTPASSWD_SECRET, args.namespace, write_file, child
        )
        self.reader_htpasswd_secret = _htpasswd_secret(
            f"{name}-reader-htpasswd", READER_HTPASSWD_SECRET, args.namespace, reader_file, child
        )
        # Always mounted, so the gateway's fallback never reads a missing file (a 500, not a 401).
        self.rotation_htpasswd_secret = _htpasswd_secret(
            f"{name}-rotation-htpasswd", ROTATION_HTPASSWD_SECRET, args.namespace, rotation_file, child
        )

        # A rotating workload is handed its next password: it switches when it is next rolled out.
        exported = {**passwords, **upcoming}
        self.passwords = {workload: pulumi.Output.secret(exported[workload].result) for workload in workloads}
        self.reader_password = pulumi.Output.secret(reader.result)
        self.reader = pulumi.Output.secret(
            reader.result.apply(lambda password: {"username": READER_USERNAME, "password": password})
        )
        self.register_outputs(
            {"reader": self.reader, **{f"password-{w}": p for w, p in self.passwords.items()}}
        )
