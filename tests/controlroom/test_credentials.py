from __future__ import annotations

from typing import Any

import bcrypt

from controlroom.credentials import htpasswd
from fleet.inventory.models import CredentialGeneration

from .conftest import RenderControlRoom


def _lines(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines())


def _passwords(outputs: dict[str, Any]) -> dict[str, str]:
    """Workload -> the password its ``credential-<workload>`` output publishes."""
    prefix = "credential-"
    return {key.removeprefix(prefix): value for key, value in outputs.items() if key.startswith(prefix)}


def test_htpasswd_has_one_sorted_line_per_user() -> None:
    assert htpasswd({"b": "$2b$hb", "a": "$2b$ha"}) == "a:$2b$ha\nb:$2b$hb\n"
    assert htpasswd({}) == ""


def test_each_workload_line_verifies_against_its_exported_password(
    render_controlroom: RenderControlRoom,
) -> None:
    rendered = render_controlroom(workloads=("beta", "alpha", "gamma"))
    secret = rendered.kubernetes("Secret", "mimir-gateway-htpasswd")
    text = secret["stringData"][".htpasswd"]
    assert [line.split(":")[0] for line in text.splitlines()] == ["alpha", "beta", "gamma"]
    credentials = _passwords(rendered.plan["outputs"])
    assert sorted(credentials) == ["alpha", "beta", "gamma"]
    for user, hashed in _lines(text).items():
        password = credentials[user]
        assert len(password) == 40 and password.isalnum()
        assert bcrypt.checkpw(password.encode(), hashed.encode())
        other = credentials["alpha" if user != "alpha" else "beta"]
        assert not bcrypt.checkpw(other.encode(), hashed.encode())


def test_reader_has_its_own_htpasswd(render_controlroom: RenderControlRoom) -> None:
    rendered = render_controlroom()
    reader_file = rendered.kubernetes("Secret", "mimir-gateway-reader-htpasswd")["stringData"][".htpasswd"]
    reader = rendered.plan["outputs"]["reader"]
    assert reader["username"] == "fleet-reader"
    (hashed,) = _lines(reader_file).values()
    assert list(_lines(reader_file)) == ["fleet-reader"]
    assert bcrypt.checkpw(reader["password"].encode(), hashed.encode())
    write_file = rendered.kubernetes("Secret", "mimir-gateway-htpasswd")["stringData"][".htpasswd"]
    assert "fleet-reader" not in _lines(write_file)


def test_passwords_are_random_passwords_named_by_workload(render_controlroom: RenderControlRoom) -> None:
    rendered = render_controlroom(workloads=("alpha", "beta"))
    passwords = rendered.resources("random:index/randomPassword:RandomPassword")
    owned = sorted(r["name"] for r in passwords if r["parent"] == "credentials")
    assert owned == ["cred-alpha", "cred-beta", "reader"]
    assert all(
        r["inputs"] == {"length": 40, "special": False} for r in passwords if r["parent"] == "credentials"
    )


def test_offboarding_removes_the_line_and_keeps_the_others(render_controlroom: RenderControlRoom) -> None:
    before = render_controlroom(workloads=("alpha", "beta", "gamma"))
    after = render_controlroom(workloads=("alpha", "gamma"))
    old = _lines(before.kubernetes("Secret", "mimir-gateway-htpasswd")["stringData"][".htpasswd"])
    new = _lines(after.kubernetes("Secret", "mimir-gateway-htpasswd")["stringData"][".htpasswd"])
    assert list(new) == ["alpha", "gamma"]
    assert new == {user: old[user] for user in ("alpha", "gamma")}
    assert sorted(_passwords(after.plan["outputs"])) == ["alpha", "gamma"]
    assert not any("cred-beta" in key for key in after.state["passwords"])


def test_a_rotation_keeps_both_passwords_then_only_the_new(render_controlroom: RenderControlRoom) -> None:
    before = render_controlroom(workloads=("alpha", "beta"))
    old = _passwords(before.plan["outputs"])["alpha"]
    rotating = {"alpha": CredentialGeneration(generation=0, next=1)}
    during = render_controlroom(workloads=("alpha", "beta"), credentials=rotating)
    main = _lines(during.kubernetes("Secret", "mimir-gateway-htpasswd")["stringData"][".htpasswd"])
    rotation = _lines(
        during.kubernetes("Secret", "mimir-gateway-rotation-htpasswd")["stringData"][".htpasswd"]
    )
    new = _passwords(during.plan["outputs"])["alpha"]
    assert new != old and list(rotation) == ["alpha"]
    assert bcrypt.checkpw(old.encode(), main["alpha"].encode())  # the old still authenticates
    assert bcrypt.checkpw(new.encode(), rotation["alpha"].encode())  # and the new, exported
    assert _passwords(during.plan["outputs"])["beta"] == _passwords(before.plan["outputs"])["beta"]

    after = render_controlroom(
        workloads=("alpha", "beta"), credentials={"alpha": CredentialGeneration(generation=1)}
    )
    main = _lines(after.kubernetes("Secret", "mimir-gateway-htpasswd")["stringData"][".htpasswd"])
    assert after.kubernetes("Secret", "mimir-gateway-rotation-htpasswd")["stringData"][".htpasswd"] == ""
    assert _passwords(after.plan["outputs"])["alpha"] == new
    assert bcrypt.checkpw(new.encode(), main["alpha"].encode())
    assert not any(key.endswith("cred-alpha") for key in after.state["passwords"])  # the old is gone
