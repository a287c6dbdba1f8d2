"""TLS-RPT ingestion through SES on the local world: the product's receipt rule stores each message
in moto's S3 and invokes the real `functions/ingest_report` handler, which counts the reports into
DynamoDB exactly once, archives them and quarantines what is not a report."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from moto.awslambda.models import lambda_backends

from mtasts.dynamo_store import DynamoPolicyStore
from mtasts.policy import Mode
from mtasts.policy_state import PublishedPolicy
from mtasts.report_store import DynamoReportStore
from mtasts_local.aws.template import DeployedStack
from mtasts_local.drivers.ses_inbound import (
    ReceiptDetails,
    SesDelivery,
    SesInbound,
    mail_routes,
    new_message_id,
    ses_receipt_event,
)
from mtasts_local.drivers.stack import StackView
from mtasts_local.world import LocalWorld
from tests import giant_report

CORPUS = Path(__file__).parents[1] / "corpus" / "reports"
REPORT_ADDRESS = "tlsrpt@reports.mtasts.test"
POLICY_TEXT = "version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400\r\n"
SAMPLE_EXTENSIONS = (".json.gz", ".json", ".gz", ".zip", ".eml")


def samples() -> list[Path]:
    found = [
        p
        for p in sorted(CORPUS.iterdir())
        if p.is_file()
        and p.name.endswith(SAMPLE_EXTENSIONS)
        and not p.name.endswith(".expected.json")
    ]
    assert len(found) >= 8
    return found


def expected_for(sample: Path) -> dict[str, Any]:
    name = sample.name
    stem = next(name[: -len(e)] for e in SAMPLE_EXTENSIONS if name.endswith(e))
    return dict(json.loads((CORPUS / f"{stem}.expected.json").read_text()))


def as_mail(sample: Path, organization: str = "Sender") -> bytes:
    """An `.eml` sample as it is; any other sample attached as RFC 8460 §5.3 sends it."""
    data = sample.read_bytes()
    if sample.name.endswith(".eml"):
        return data
    message = EmailMessage()
    message["From"] = f"{organization} <tlsrpt@sender.test>"
    message["To"] = REPORT_ADDRESS
    message["Subject"] = (
        f"Report Domain: example.com Submitter: sender.test Report-ID: <{sample.name}>"
    )
    message["TLS-Report-Domain"] = "example.com"
    message["TLS-Report-Submitter"] = "sender.test"
    message.set_content("This is an aggregate TLS report.")
    subtype = (
        "zip"
        if sample.name.endswith(".zip")
        else "tlsrpt+gzip"
        if data[:2] == b"\x1f\x8b"
        else "tlsrpt+json"
    )
    message.add_attachment(data, maintype="application", subtype=subtype, filename=sample.name)
    return message.as_bytes()


def manage(world: LocalWorld, stack: DeployedStack, *domains: str) -> None:
    store = DynamoPolicyStore(world.aws.client("dynamodb"), stack.ref("DomainsTable"))
    for domain in domains:
        store.save(
            PublishedPolicy(
                domain=domain,
                policy_id="20261101000000",
                policy_hash="0" * 64,
                policy_text=POLICY_TEXT,
                mode=Mode.TESTING,
                max_age=86400,
                mx=("mx.example.com",),
                rua=(f"mailto:{REPORT_ADDRESS}",),
                served_at=datetime(2026, 11, 1, tzinfo=UTC),
            )
        )


def deliver(world: LocalWorld, stack: DeployedStack, raw: bytes) -> SesDelivery:
    delivery = SesInbound(StackView(stack), world.aws.client).deliver(raw, [REPORT_ADDRESS])
    assert delivery.function_error is None, delivery.payload
    return delivery


def counts(world: LocalWorld, stack: DeployedStack) -> DynamoReportStore:
    return DynamoReportStore(world.aws.client("dynamodb"), stack.ref("DomainsTable"))


def s3_keys(world: LocalWorld, stack: DeployedStack, prefix: str) -> list[str]:
    listed = world.aws.client("s3").list_objects_v2(Bucket=stack.ref("ReportBucket"), Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def table_items(world: LocalWorld, stack: DeployedStack) -> list[dict[str, Any]]:
    scan = world.aws.client("dynamodb").scan(TableName=stack.ref("DomainsTable"))
    return sorted(scan["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


@pytest.mark.parametrize("sample", samples(), ids=lambda p: p.name)
def test_every_corpus_sample_lands_as_its_expected_counts(
    world: LocalWorld, product: DeployedStack, sample: Path
) -> None:
    expected = expected_for(sample)
    domains = sorted({p["policy"]["policy_domain"].lower() for p in expected["policies"]})
    manage(world, product, *domains)

    delivery = deliver(world, product, as_mail(sample))

    (outcome,) = delivery.payload
    assert outcome["counted"] == [f"{expected['organization_name']}!{expected['report_id']}"]
    assert outcome["quarantined"] is None
    day = date.fromisoformat(expected["date_range"]["start_datetime"][:10])
    for domain in domains:
        policies = [
            p for p in expected["policies"] if p["policy"]["policy_domain"].lower() == domain
        ]
        (totals,) = counts(world, product).days(domain, day, day)
        ok, failed, results = Counter[str](), Counter[str](), Counter[str]()
        for p in policies:
            kind = p["policy"]["policy_type"]
            ok[kind] += p["summary"]["total_successful_session_count"]
            failed[kind] += p["summary"]["total_failure_session_count"]
            for d in p["failure_details"]:
                results[f"{kind}/{d['result_type']}"] += d["failed_session_count"]
        assert totals.successful_by_policy_type == {k: v for k, v in ok.items() if v}
        assert totals.failed_by_policy_type == {k: v for k, v in failed.items() if v}
        assert {
            f"{kind}/{t}": n
            for kind, by in totals.failures_by_result_type.items()
            for t, n in by.items()
        } == {k: v for k, v in results.items() if v}
        assert totals.reporters == {expected["organization_name"]}
    assert [k.split("/")[1] for k in s3_keys(world, product, "reports/")] == domains


def test_the_same_report_three_times_counts_once(world: LocalWorld, product: DeployedStack) -> None:
    sample = CORPUS / "rfc-two-policies.json"
    expected = expected_for(sample)
    domains = sorted({p["policy"]["policy_domain"].lower() for p in expected["policies"]})
    manage(world, product, *domains)
    mail = as_mail(sample)

    outcomes = [deliver(world, product, mail).payload[0] for _ in range(3)]

    assert [len(o["counted"]) for o in outcomes] == [1, 0, 0]
    assert [len(o["duplicates"]) for o in outcomes] == [0, 1, 1]
    day = date.fromisoformat(expected["date_range"]["start_datetime"][:10])
    total_ok = sum(
        sum(t.successful_by_policy_type.values())
        for d in domains
        for t in counts(world, product).days(d, day, day)
    )
    assert total_ok == sum(
        p["summary"]["total_successful_session_count"] for p in expected["policies"]
    )


def test_two_reporters_with_the_same_report_id_count_twice(
    world: LocalWorld, product: DeployedStack, tmp_path: Path
) -> None:
    manage(world, product, "example.com")
    report = {
        "organization-name": "Alpha Mail",
        "date-range": {
            "start-datetime": "2026-11-20T00:00:00Z",
            "end-datetime": "2026-11-20T23:59:59Z",
        },
        "contact-info": "tlsrpt@alpha.test",
        "report-id": "same-id-1",
        "policies": [
            {
                "policy": {"policy-type": "sts", "policy-domain": "example.com"},
                "summary": {"total-successful-session-count": 10, "total-failure-session-count": 0},
            }
        ],
    }
    other = {**report, "organization-name": "Beta Mail", "contact-info": "tlsrpt@beta.test"}
    for body in (report, other):
        path = tmp_path / f"{body['organization-name']}.json.gz"
        path.write_bytes(gzip.compress(json.dumps(body).encode()))
        deliver(world, product, as_mail(path))

    (day,) = counts(world, product).days("example.com", date(2026, 11, 20), date(2026, 11, 20))
    assert day.successful_by_policy_type == {"sts": 20}
    assert day.reporters == {"Alpha Mail", "Beta Mail"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"From: someone@else.test\r\nSubject: hello\r\n\r\nJust a note.\r\n", "no TLS-RPT report"),
        ("bomb", "decompressed size limit"),
        ((CORPUS / "invalid" / "missing-report-id.json"), "report-id"),
    ],
    ids=["not-a-report", "gzip-bomb", "invalid-report"],
)
def test_bad_mail_is_quarantined_with_its_reason_and_nothing_else_changes(
    world: LocalWorld, product: DeployedStack, raw: Any, reason: str, tmp_path: Path
) -> None:
    manage(world, product, "example.com")
    before = table_items(world, product)
    if raw == "bomb":
        bomb = tmp_path / "bomb.json.gz"
        with gzip.open(bomb, "wb", compresslevel=9) as out:
            zeros = bytes(1024 * 1024)
            for _ in range(80):  # 80 MiB decompressed, over the 64 MiB cap
                out.write(zeros)
        raw = as_mail(bomb)
    elif isinstance(raw, Path):
        raw = as_mail(raw)

    (outcome,) = deliver(world, product, raw).payload

    assert reason in outcome["quarantined"] and outcome["counted"] == []
    assert table_items(world, product) == before
    assert s3_keys(world, product, "reports/") == []
    (kept, why) = s3_keys(world, product, "quarantine/")
    assert kept.endswith(".eml") and why.endswith(".reason.json")
    body = world.aws.client("s3").get_object(Bucket=product.ref("ReportBucket"), Key=why)["Body"]
    assert reason in json.loads(body.read())["reason"]


def test_reports_about_unmanaged_domains_are_dropped_not_stored(
    world: LocalWorld, product: DeployedStack
) -> None:
    (outcome,) = deliver(world, product, as_mail(CORPUS / "rfc-two-policies.json")).payload
    assert outcome["counted"] == [] and outcome["quarantined"] is None
    assert outcome["unmanaged_domains"]
    assert (
        s3_keys(world, product, "reports/") == [] and s3_keys(world, product, "quarantine/") == []
    )


# --- a giant reporter's report ---------------------------------------------------------------

GIANT_GZIP_BYTES = 20 * 1024 * 1024  # "a 20 MB gzip report": 20 MiB compressed, ~400 MB of JSON


# Runs `invoke_subprocess` as `-m` would, then writes the process's VmHWM to the file named by
# argv[1]: the peak resident memory of the image that exec gave it. Linux carries the parent's
# peak into the child's ru_maxrss (wait4, RUSAGE_CHILDREN) at fork and exec, so from a test
# process of several hundred MB those would report the test, not the handler.
_MEASURED_INVOKE = """
import atexit, pathlib, runpy, sys
report = pathlib.Path(sys.argv.pop(1))
def peak():
    status = pathlib.Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    report.write_text(str(int(line.split()[1]) * 1024))
atexit.register(peak)
runpy.run_module("mtasts_local.aws.invoke_subprocess", run_name="__main__", alter_sys=True)
"""


def run_in_own_process(
    world: LocalWorld, stack: DeployedStack, logical_id: str, event: dict[str, Any], work: Path
) -> tuple[Any, int, int]:
    """Invoke a function's real handler in a process of its own with the function's
    environment, as Lambda runs it: the payload, the peak resident memory of that process
    (bytes) and the function's MemorySize (MB) as the template gives it."""
    name = stack.ref(logical_id)
    function = lambda_backends[world.aws.account_id][world.aws.region].get_function(name)
    code = stack.function_code()[name]
    command = [
        sys.executable,
        "-c",
        _MEASURED_INVOKE,
        str(work / "peak"),
        f"--code-dir={code.code_dir}",
        f"--handler={function.handler}",
        f"--function-arn={function.function_arn}",
        "--request-id=giant-report",
        f"--timeout={function.timeout}",
        *(f"--layer-dir={layer}" for layer in code.layer_dirs),
    ]
    inherited = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    environment = {**inherited, **world.lambda_runner.environment(function)}
    with (work / "handler.log").open("wb") as logs:
        completed = subprocess.run(
            command,
            input=json.dumps(event).encode(),
            stdout=subprocess.PIPE,
            stderr=logs,
            env=environment,
            timeout=float(function.timeout) + 10,
            check=False,
        )
    assert completed.returncode == 0, (work / "handler.log").read_text()[-3000:]
    peak = int((work / "peak").read_text())
    return json.loads(completed.stdout), peak, int(function.memory_size)


def deliver_in_own_process(
    world: LocalWorld, stack: DeployedStack, raw: bytes, work: Path
) -> tuple[Any, int, int]:
    """What `deliver` does (the receipt rule's S3 action, then its Lambda action), with the
    handler run by `run_in_own_process`."""
    (route,) = mail_routes(StackView(stack))
    message_id = new_message_id()
    s3 = world.aws.client("s3")
    s3.put_object(Bucket=route.bucket, Key=f"{route.prefix}{message_id}", Body=raw)
    event = ses_receipt_event(
        raw, ReceiptDetails([REPORT_ADDRESS], [REPORT_ADDRESS], message_id, route)
    )
    return run_in_own_process(world, stack, "IngestReportFunction", event, work)


@pytest.mark.slow
def test_a_20_mb_gzip_report_is_counted_with_peak_memory_under_half_the_function_memory(
    world: LocalWorld, product: DeployedStack, tmp_path: Path
) -> None:
    manage(world, product, giant_report.DOMAIN)
    report = giant_report.write_giant_report(tmp_path / "giant.json.gz", GIANT_GZIP_BYTES + 2**19)
    assert report.gzip_bytes >= GIANT_GZIP_BYTES and report.json_bytes > 300 * 10**6

    started = time.monotonic()
    (outcome,), peak, memory_size = deliver_in_own_process(
        world, product, as_mail(report.path, giant_report.ORGANIZATION), tmp_path
    )
    print(  # the figures of benchmarks/README.md (pytest -s)
        f"\n{report.gzip_bytes:,} B gzip, {report.json_bytes:,} B JSON, {report.details:,} "
        f"failure details: handler peak {peak / 2**20:.0f} MiB of MemorySize {memory_size} MB, "
        f"{time.monotonic() - started:.1f} s"
    )

    assert outcome["counted"] == [f"{giant_report.ORGANIZATION}!{giant_report.REPORT_ID}"]
    assert peak < memory_size * 1024 * 1024 // 2, f"peak {peak >> 20} MiB of {memory_size} MB"
    day = date.fromisoformat(giant_report.DAY)
    (totals,) = counts(world, product).days(giant_report.DOMAIN, day, day)
    assert totals.successful_by_policy_type == report.successful
    assert totals.failed_by_policy_type == report.failed
    assert {
        f"{kind}/{result}": n
        for kind, by_result in totals.failures_by_result_type.items()
        for result, n in by_result.items()
    } == report.by_result_type
    assert totals.failures_by_mx == report.by_mx
    assert totals.reporters == {giant_report.ORGANIZATION}
    summary, original = s3_keys(world, product, "reports/")
    assert summary.endswith(".json") and original.endswith(".original.json.gz")
    kept = world.aws.client("s3").get_object(Bucket=product.ref("ReportBucket"), Key=original)
    assert kept["Body"].read() == report.path.read_bytes()  # the attachment as received
