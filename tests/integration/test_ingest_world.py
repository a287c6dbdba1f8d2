"""TLS-RPT ingestion through SES on the local world: the product's receipt rule stores each message
in moto's S3 and invokes the real `functions/ingest_report` handler, which counts the reports into
DynamoDB exactly once, archives them and quarantines what is not a report."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mtasts.dynamo_store import DynamoPolicyStore
from mtasts.policy import Mode
from mtasts.policy_state import PublishedPolicy
from mtasts.report_store import DynamoReportStore
from mtasts_local.aws.template import DeployedStack
from mtasts_local.drivers.ses_inbound import SesDelivery, SesInbound
from mtasts_local.drivers.stack import StackView
from mtasts_local.world import LocalWorld

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
