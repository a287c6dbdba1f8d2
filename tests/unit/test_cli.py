"""The `mtasts` command: output shapes, exit statuses, and never a traceback."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mtasts.cli import main

POLICY = "version: STSv1\nmode: enforce\nmx: *.example.com\nmx: mx.example.net\nmax_age: 604800\n"
REPORT = {
    "organization-name": "Example Mail Co",
    "date-range": {"start-datetime": "2026-11-01T00:00:00", "end-datetime": "2026-11-02T00:00:00"},
    "report-id": "r-1",
    "policies": [
        {
            "policy": {"policy-type": "no-policy-found", "policy-domain": "example.com"},
            "summary": {"total-successful-session-count": 3, "total-failure-session-count": 0},
        }
    ],
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "mta-sts.txt"
    path.write_text(POLICY)
    return path


def test_policy_check_json(capsys: pytest.CaptureFixture[str], policy_file: Path) -> None:
    status, out, _ = run(capsys, "policy", "check", str(policy_file), "--json")
    assert status == 0
    assert json.loads(out) == {
        "valid": True,
        "policy": {
            "version": "STSv1",
            "mode": "enforce",
            "max_age": 604800,
            "mx": ["*.example.com", "mx.example.net"],
        },
        "findings": [],
    }


def test_policy_check_invalid_exits_1_with_findings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("version: STSv1\nmode: enforce\n")
    status, out, _ = run(capsys, "policy", "check", str(path), "--json")
    body = json.loads(out)
    assert status == 1
    assert body["valid"] is False and body["policy"] is None
    assert {f["code"] for f in body["findings"]} == {"policy-max-age-missing", "policy-mx-missing"}
    assert all(set(f) == {"code", "severity", "message"} for f in body["findings"])


def test_policy_check_human_output(capsys: pytest.CaptureFixture[str], policy_file: Path) -> None:
    status, out, _ = run(capsys, "policy", "check", str(policy_file))
    assert status == 0 and out.startswith("valid: mode enforce")


def test_policy_render_writes_crlf(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    status = main(["policy", "render", "--mode", "testing", "--mx", "a.example", "--mx",
                   "*.b.example", "--max-age", "86400"])  # fmt: skip
    assert status == 0
    assert capsysbinary.readouterr().out == (
        b"version: STSv1\r\nmode: testing\r\nmx: a.example\r\nmx: *.b.example\r\nmax_age: 86400\r\n"
    )


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["policy", "render", "--mode", "enforce", "--max-age", "86400"], 1),
        (["policy", "render", "--mode", "enforce", "--mx=-bad", "--max-age", "1"], 1),
        (["policy", "render", "--mode", "Enforce", "--mx", "a.example", "--max-age", "1"], 2),
        (["policy", "render", "--mode", "enforce", "--mx", "a.example", "--max-age", "-1"], 2),
    ],
)
def test_policy_render_refuses_what_it_cannot_publish(
    capsys: pytest.CaptureFixture[str], argv: list[str], status: int
) -> None:
    if status == 2:  # argparse rejects it before any command runs
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
    else:
        assert main(argv) == status
    assert "Traceback" not in capsys.readouterr().err


def test_policy_match_json(capsys: pytest.CaptureFixture[str], policy_file: Path) -> None:
    status, out, _ = run(
        capsys, "policy", "match", str(policy_file), "a.example.com", "MX.example.net.", "--json"
    )
    assert status == 0
    assert json.loads(out) == {
        "a.example.com": "*.example.com",
        "MX.example.net.": "mx.example.net",
    }


def test_policy_match_an_uncovered_host_exits_1(
    capsys: pytest.CaptureFixture[str], policy_file: Path
) -> None:
    status, out, _ = run(capsys, "policy", "match", str(policy_file), "a.b.example.com", "--json")
    assert (status, json.loads(out)) == (1, {"a.b.example.com": None})


def test_record_check_sts_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "record", "check", "--type", "sts", "v=STSv1; id=1; x=y", "--json")
    assert status == 0
    assert json.loads(out) == {
        "valid": True,
        "record": {"version": "STSv1", "id": "1", "extensions": {"x": "y"}},
        "findings": [],
    }


def test_record_check_tlsrpt_json(capsys: pytest.CaptureFixture[str]) -> None:
    value = "v=TLSRPTv1; rua=mailto:a@example.com, https://r.example/x"
    status, out, _ = run(capsys, "record", "check", "--type", "tlsrpt", value, "--json")
    assert status == 0
    assert json.loads(out)["record"] == {
        "version": "TLSRPTv1",
        "rua": ["mailto:a@example.com", "https://r.example/x"],
        "extensions": {},
    }


def test_record_check_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "record", "check", "--type", "sts", "v=STSv1; id=a-b", "--json")
    assert status == 1
    assert json.loads(out)["findings"][0]["code"] == "sts-record-id-invalid"


def test_report_parse_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "r.json.gz"
    path.write_bytes(gzip.compress(json.dumps(REPORT).encode()))
    status, out, _ = run(capsys, "report", "parse", str(path), "--json")
    assert status == 0
    assert json.loads(out) == {
        "report_id": "r-1",
        "organization_name": "Example Mail Co",
        "contact_info": None,
        "date_range": {
            "start_datetime": "2026-11-01T00:00:00Z",
            "end_datetime": "2026-11-02T00:00:00Z",
        },
        "policies": [
            {
                "policy": {
                    "policy_type": "no-policy-found",
                    "policy_domain": "example.com",
                    "policy_string": [],
                    "mx_host_pattern": [],
                },
                "summary": {"total_successful_session_count": 3, "total_failure_session_count": 0},
                "failure_details": [],
            }
        ],
    }


def test_report_parse_invalid_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**REPORT, "report-id": None}))
    status, out, err = run(capsys, "report", "parse", str(path), "--json")
    assert (status, out) == (1, "")
    assert err.count("\n") == 1 and "report-id" in err


def test_report_parse_refuses_a_bomb_with_the_configured_cap(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(b"{" + b" " * (3 << 20)))
    status, _, err = run(capsys, "report", "parse", str(path), "--max-decompressed-mib", "2")
    assert status == 1 and "decompression bomb" in err


def test_unreadable_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "policy", "check", str(tmp_path / "missing.txt"))
    assert status == 2 and "cannot read" in err


@pytest.mark.parametrize(
    "argv",
    [[], ["policy"], ["policy", "check"], ["record", "check", "v=STSv1"], ["nope"]],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["policy", "--help"], ["policy", "check", "--help"], ["policy", "render", "-h"],
     ["policy", "match", "-h"], ["record", "check", "-h"], ["report", "parse", "-h"]],
)  # fmt: skip
def test_help_everywhere(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 0
    assert "usage: mtasts" in capsys.readouterr().out


def test_the_console_script_is_installed_and_reads_stdin() -> None:
    script = Path(sys.executable).with_name("mtasts")
    done = subprocess.run(
        [str(script), "policy", "check", "-", "--json"],
        input=POLICY.encode(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["valid"] is True


def test_binary_garbage_never_produces_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(bytes(range(256)) * 4)
    script = Path(sys.executable).with_name("mtasts")
    for argv in (["report", "parse", str(path)], ["policy", "check", str(path)]):
        done = subprocess.run([str(script), *argv], capture_output=True, check=False)
        assert done.returncode == 1
        assert b"Traceback" not in done.stderr
