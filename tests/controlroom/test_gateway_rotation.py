"""The control room's gateway, its real rendered nginx config in a real nginx: during a credential
rotation both a workload's old and new passwords write as that workload's tenant, and once the
rotation ends the old one gets 401."""

from __future__ import annotations

from nginx import Gateway, gateway, write_htpasswd

from controlroom.mimir import gateway_nginx_config

__all__ = ["gateway"]

OLD, NEW, OTHER = "old-password-0123456789", "new-password-9876543210", "search-password-555"


def _tenants(gateway: Gateway) -> list[str]:
    return [request["headers"].get("x-scope-orgid") for request in gateway.upstream.requests]


def test_old_and_new_passwords_overlap_during_a_rotation_then_the_old_one_is_refused(
    gateway: Gateway,
) -> None:
    secrets, rotation = gateway.etc / "secrets" / ".htpasswd", gateway.etc / "rotation" / ".htpasswd"
    write_htpasswd(secrets, {"payments-prod": OLD, "search-staging": OTHER})
    write_htpasswd(rotation, {})  # mounted and empty while nothing rotates
    write_htpasswd(gateway.etc / "reader" / ".htpasswd", {"fleet-reader": "reader-password"})
    gateway.start(gateway_nginx_config())

    assert gateway.push("payments-prod", OLD) == 200
    assert gateway.push("payments-prod", NEW) == 401  # not yet accepted
    assert gateway.push("payments-prod", "") == 401

    # Phases 1 and 2: the control room accepts the new password next to the old one.
    write_htpasswd(rotation, {"payments-prod": NEW})
    assert gateway.push("payments-prod", OLD, tenant="search-staging") == 200
    assert gateway.push("payments-prod", NEW, tenant="search-staging") == 200
    assert _tenants(gateway)[-2:] == ["payments-prod", "payments-prod"]  # never the client's choice
    assert all("authorization" not in request["headers"] for request in gateway.upstream.requests)
    assert gateway.push("search-staging", NEW) == 401  # the new password is payments-prod's only
    assert gateway.push("search-staging", OTHER) == 200 and _tenants(gateway)[-1] == "search-staging"

    # Phase 3: the new password is the only one.
    write_htpasswd(secrets, {"payments-prod": NEW, "search-staging": OTHER})
    write_htpasswd(rotation, {})
    forwarded = len(gateway.upstream.requests)
    assert gateway.push("payments-prod", OLD) == 401
    assert gateway.push("payments-prod", NEW) == 200
    assert len(gateway.upstream.requests) == forwarded + 1 and _tenants(gateway)[-1] == "payments-prod"
