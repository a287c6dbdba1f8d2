"""`mtasts deploy --local` and `mtasts check --local` against the session's world, as a person
runs them after `mtasts local up`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtasts.cli import main
from mtasts_local.endpoints import ENDPOINTS_FILE, write_endpoints
from mtasts_local.world import LocalWorld

RUA = "mailto:tlsrpt@reports.mtasts.test"


@pytest.fixture
def local_dir(world: LocalWorld, tmp_path: Path) -> Path:
    write_endpoints(world.endpoints(), tmp_path / ENDPOINTS_FILE)
    return tmp_path


def deploy(local_dir: Path, domain: str, *args: str) -> int:
    return main(["deploy", domain, "--local", "--local-dir", str(local_dir), "--rua", RUA, *args])


def test_deploy_prints_each_step_and_a_rerun_is_a_no_op(
    local_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy(local_dir, "selfhosted.example", "--mode", "testing") == 0
    first = capsys.readouterr().out
    assert "policy is safe to publish" in first
    assert "serves the new policy" in first
    assert "_mta-sts.selfhosted.example: None -> 'v=STSv1; id=" in first
    assert "selfhosted.example: testing policy deployed and announced" in first

    assert deploy(local_dir, "selfhosted.example", "--mode", "testing") == 0
    again = capsys.readouterr().out
    assert "already served; nothing to upload" in again
    assert "testing policy already deployed" in again


def test_check_reports_the_expired_mx_and_nothing_for_healthy_domains(
    local_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for domain in ("selfhosted.example", "hosted.example", "expired.example"):
        assert deploy(local_dir, domain, "--mode", "testing") == 0
    capsys.readouterr()

    status = main(
        [
            "check", "selfhosted.example", "hosted.example", "expired.example", "moving.example",
            "--local", "--local-dir", str(local_dir), "--json",
        ]
    )  # fmt: skip

    report = json.loads(capsys.readouterr().out)
    assert status == 1
    assert report["selfhosted.example"] == {"ok": True, "findings": []}
    assert report["hosted.example"] == {"ok": True, "findings": []}
    expired = report["expired.example"]
    assert not expired["ok"]
    assert [(f["code"], f["subject"]) for f in expired["findings"]] == [
        ("mx-certificate-expired", "mail.expired.example")
    ]
    assert expired["findings"][0]["hint"]
    assert {f["code"] for f in report["moving.example"]["findings"]} == {
        "sts-record-missing",
        "tlsrpt-record-missing",
    }


def test_check_prints_a_table_for_a_person(
    local_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy(local_dir, "expired.example", "--mode", "testing") == 0
    capsys.readouterr()
    assert main(["check", "expired.example", "--local", "--local-dir", str(local_dir)]) == 1
    table = capsys.readouterr().out
    assert "FAIL  expired.example  (testing, id " in table
    assert "mx-certificate-expired" in table and "fix: Renew" in table
    assert table.rstrip().endswith("1 domain(s) checked, 1 with errors")


def test_usage_mistakes_exit_2_with_one_line(
    local_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "example.com", "--nameserver", "not-an-ip"]) == 2
    assert main(["check", "no_such..domain", "--local", "--local-dir", str(local_dir)]) == 2
    assert main(["check", "example.com", "--local", "--local-dir", str(tmp_path / "none")]) == 2
    assert deploy(local_dir, "selfhosted.example", "--mode", "enforce", "--mx", "*.bad.*") == 1
    err = capsys.readouterr().err
    assert "expected IP[:PORT]" in err and "mtasts local up" in err
    assert "Traceback" not in err
