"""An attempt's output as the journal keeps it: secrets scrubbed, the newest part within the cap."""

from __future__ import annotations

from fleet.executors.output import OutputLog, environment_secrets, scrub


def test_secret_looking_environment_values_are_scrubbed() -> None:
    environ = {
        "PULUMI_CONFIG_PASSPHRASE": "correct-horse",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
        "GITHUB_TOKEN": "ghp_abcdef",
        "HOME": "/root",
        "API_KEY": "k3y-value",
    }
    secrets = environment_secrets(environ)

    assert set(secrets) == {"correct-horse", "wJalrXUtnFEMI", "ghp_abcdef", "k3y-value"}
    assert scrub("login correct-horse at /root", secrets) == "login *** at /root"


def test_the_output_keeps_the_newest_lines_within_its_cap() -> None:
    output = OutputLog(["hunter2"], limit=200)
    for number in range(50):
        output(f"line {number} hunter2")

    text = output.text()
    assert len(text) <= 200 and output.dropped > 0
    assert text.splitlines()[-1].endswith("line 49 ***")
    assert "hunter2" not in text and "line 0 " not in text
