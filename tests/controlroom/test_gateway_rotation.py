"""The control room's gateway, its real rendered nginx config in a real nginx: during a credential
rotation both a workload's old and new passwords write as that workload's tenant, and once the
rotation ends the old one gets 401."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path

from nginx import RecordingUpstream, free_port, gateway_on_loopback, require_nginx, run_nginx, write_htpasswd

from controlroom.gateway import gateway_nginx_config
from fleet.inventory.models import ControlRoomGateway

OLD, NEW, OTHER = "old-password-0123456789", "new-password-9876543210", "search-password-555"


def test_old_and_new_passwords_overlap_during_a_rotation_then_the_old_one_is_refused(tmp_path: Path) -> None:
    require_nginx()
    etc = tmp_path / "etc"
    secrets, rotation, reader = etc / "secrets" / ".htpasswd", etc / "rotation" / ".htpasswd", etc / "reader"
    write_htpasswd(secrets, {"payments-prod": OLD, "search-staging": OTHER})
    write_htpasswd(rotation, {})  # mounted and empty while nothing rotates
    write_htpasswd(reader / ".htpasswd", {"fleet-reader": "reader-password"})
    port = free_port()
    with RecordingUpstream() as upstream:
        config = gateway_on_loopback(
            gateway_nginx_config(ControlRoomGateway(), "mimir"),
            workdir=tmp_path / "nginx",
            port=port,
            upstream_port=upstream.port,
            write_htpasswd=secrets,
            reader_htpasswd_dir=reader,
            rotation_htpasswd_dir=rotation.parent,
        )
        with run_nginx(config, tmp_path / "nginx", port):

            def push(user: str, password: str, *, tenant: str | None = None) -> int:
                headers = {
                    "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                }
                if tenant is not None:
                    headers["X-Scope-OrgID"] = tenant
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/v1/push", data=b"snappy", headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        return int(response.status)
                except urllib.error.HTTPError as error:
                    return int(error.code)

            def tenants() -> list[list[str]]:
                return [r.header_values("X-Scope-OrgID") for r in upstream.requests]

            assert push("payments-prod", OLD) == 200
            assert push("payments-prod", NEW) == 401  # not yet accepted
            assert push("payments-prod", "") == 401

            # Phases 1 and 2: the control room accepts the new password next to the old one.
            write_htpasswd(rotation, {"payments-prod": NEW})
            assert push("payments-prod", OLD, tenant="search-staging") == 200
            assert push("payments-prod", NEW, tenant="search-staging") == 200
            assert tenants()[-2:] == [["payments-prod"], ["payments-prod"]]  # never the client's choice
            assert all(not r.header_values("Authorization") for r in upstream.requests)
            assert push("search-staging", NEW) == 401  # the new password is payments-prod's only
            assert push("search-staging", OTHER) == 200 and tenants()[-1] == ["search-staging"]

            # Phase 3: the new password is the only one.
            write_htpasswd(secrets, {"payments-prod": NEW, "search-staging": OTHER})
            write_htpasswd(rotation, {})
            forwarded = len(upstream.requests)
            assert push("payments-prod", OLD) == 401
            assert push("payments-prod", NEW) == 200
            assert len(upstream.requests) == forwarded + 1 and tenants()[-1] == ["payments-prod"]
