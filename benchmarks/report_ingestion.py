"""Report ingestion: 10,000 TLS-RPT report mails through the real `functions/ingest_report` handler
into moto's DynamoDB and S3 (moto in server mode, over HTTP, as the integration tests use it).

Each report mail is first put where SES's S3 action puts it (not timed: that is SES's work), then
the handler is called with SES's receipt event, in this process, the way Lambda calls it: it reads
the mail from S3, extracts and validates the report, counts it in one DynamoDB transaction and
archives it in S3. Every DynamoDB write item is counted through botocore's event hooks.

Target: at most 2 writes per report plus 1 per policy-domain-day it touches.

Run with `.venv/bin/python -m benchmarks.report_ingestion [--reports N]`. Exit status 1 when the
write target is missed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import boto3

from mtasts.dynamo_store import DynamoPolicyStore
from mtasts.policy import Mode
from mtasts.policy_state import PublishedPolicy
from mtasts_local.aws.handlers import LambdaContext
from mtasts_local.aws.moto_world import MotoWorld
from mtasts_local.aws.template import REPO_TEMPLATE, deploy, read_template
from mtasts_local.config import load_world
from mtasts_local.world import template_parameters

SEED = 8460
DOMAINS = 100
ORGANIZATIONS = ("Giantmail", "Bluecorp", "Northmail", "Smallhost")
START = datetime(2026, 11, 1, tzinfo=UTC)
POLICY_TEXT = "version: STSv1\r\nmode: testing\r\nmx: *.example\r\nmax_age: 86400\r\n"
WRITE_OPERATIONS = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1}


@dataclass(frozen=True, slots=True)
class Report:
    message_id: str
    raw: bytes
    domain_days: int  # distinct (policy domain, day) pairs it touches


def make_report(rng: random.Random, index: int) -> Report:
    org = ORGANIZATIONS[index % len(ORGANIZATIONS)]
    day = START + timedelta(days=index % 28)
    domains = rng.sample(range(DOMAINS), k=rng.choice((1, 1, 1, 2)))
    body = {
        "organization-name": org,
        "date-range": {
            "start-datetime": day.isoformat().replace("+00:00", "Z"),
            "end-datetime": (day + timedelta(hours=23, minutes=59, seconds=59))
            .isoformat()
            .replace("+00:00", "Z"),
        },
        "contact-info": f"tlsrpt@{org.lower()}.test",
        "report-id": f"{org.lower()}-{index}",
        "policies": [_policy(rng, d) for d in domains],
    }
    message = EmailMessage()
    message["From"] = f"tlsrpt@{org.lower()}.test"
    message["To"] = "tlsrpt@reports.mtasts.test"
    message["Subject"] = f"Report-ID: <{body['report-id']}>"
    message["TLS-Report-Submitter"] = f"{org.lower()}.test"
    message.set_content("This is an aggregate TLS report.")
    message.add_attachment(
        gzip.compress(json.dumps(body).encode()),
        maintype="application",
        subtype="tlsrpt+gzip",
        filename=f"{org.lower()}.test!d{domains[0]}.example!{index}.json.gz",
    )
    return Report(f"bench{index:06d}", message.as_bytes(), len(domains))


def _policy(rng: random.Random, domain: int) -> dict[str, Any]:
    failures = rng.choice((0, 0, 0, 1, 3))
    details = [
        {
            "result-type": rng.choice(("certificate-expired", "starttls-not-supported")),
            "sending-mta-ip": f"198.51.100.{rng.randrange(1, 255)}",
            "receiving-mx-hostname": f"mx{rng.randrange(1, 3)}.d{domain}.example",
            "failed-session-count": 1,
        }
        for _ in range(failures)
    ]
    return {
        "policy": {
            "policy-type": "sts",
            "policy-domain": f"d{domain}.example",
            "policy-string": ["version: STSv1", "mode: testing", "max_age: 86400"],
            "mx-host-pattern": [f"*.d{domain}.example"],
        },
        "summary": {
            "total-successful-session-count": rng.randrange(1, 500),
            "total-failure-session-count": failures,
        },
        "failure-details": details,
    }


class WriteCounter:
    def __init__(self) -> None:
        self.items: Counter[str] = Counter()

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name == "TransactWriteItems":
            self.items[name] += len(params["TransactItems"])
        elif name == "BatchWriteItem":
            self.items[name] += sum(len(v) for v in params["RequestItems"].values())
        elif name in WRITE_OPERATIONS:
            self.items[name] += 1

    def total(self) -> int:
        return sum(self.items.values())


def ses_event(message_id: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:ses",
                "eventVersion": "1.0",
                "ses": {
                    "mail": {"messageId": message_id},
                    "receipt": {"dkimVerdict": {"status": "PASS"}},
                },
            }
        ]
    }


def run(count: int, chunk: int) -> int:
    """Ingest `count` reports in chunks of `chunk`, each on freshly created resources: moto's
    TransactWriteItems copies every table for its rollback, so its cost grows with the items
    stored; a bounded table keeps what is measured the handler's work, not moto's copying."""
    rng = random.Random(SEED)
    reports = [make_report(rng, i) for i in range(count)]
    counter, elapsed, counted = WriteCounter(), 0.0, 0
    with MotoWorld() as moto:
        handler = _handler(moto, counter)
        for first in range(0, count, chunk):
            batch = reports[first : first + chunk]
            table, bucket = _fresh_stack(moto)
            for report in batch:
                moto.client("s3").put_object(
                    Bucket=bucket, Key=f"inbound/{report.message_id}", Body=report.raw
                )
            os.environ.update({"DOMAINS_TABLE": table, "REPORT_BUCKET": bucket})
            started = time.perf_counter()
            for report in batch:
                (outcome,) = handler(ses_event(report.message_id))
                counted += len(outcome["counted"])
            elapsed += time.perf_counter() - started
            print(
                f"  {first + len(batch)} reports, {(first + len(batch)) / elapsed:,.0f}/s",
                file=sys.stderr,
            )
    return _print(count, counted, elapsed, counter, sum(r.domain_days for r in reports))


def _fresh_stack(moto: MotoWorld) -> tuple[str, str]:
    moto.reset()
    parameters = template_parameters(REPO_TEMPLATE, load_world(None), {})
    stack = deploy(read_template(parameters=parameters, region=moto.region), moto.client)
    table, bucket = stack.ref("DomainsTable"), stack.ref("ReportBucket")
    _manage(moto.client("dynamodb"), table)
    return table, bucket


def _handler(moto: MotoWorld, counter: WriteCounter) -> Any:
    """The function's handler, loaded as Lambda loads it, with its environment pointed at moto
    and every DynamoDB write counted."""
    os.environ.update(
        {
            **moto.environment(),
            "POWERTOOLS_METRICS_NAMESPACE": "bench",
            "POWERTOOLS_SERVICE_NAME": "bench",
        }
    )
    sys.path.insert(0, str(REPO_TEMPLATE.parent / "functions" / "ingest_report"))
    import app  # type: ignore[import-not-found]  # the function's own module

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-parameter-build.dynamodb", counter)
    context = LambdaContext("bench", "$LATEST", "arn:bench", 1024, "req", "g", "s", 1e12)
    return lambda event: app.lambda_handler(event, context)


def _manage(dynamodb: Any, table: str) -> None:
    store = DynamoPolicyStore(dynamodb, table)
    for domain in range(DOMAINS):
        store.save(
            PublishedPolicy(
                domain=f"d{domain}.example",
                policy_id="20261101000000",
                policy_hash="0" * 64,
                policy_text=POLICY_TEXT,
                mode=Mode.TESTING,
                max_age=86400,
                mx=("*.example",),
                rua=("mailto:tlsrpt@reports.mtasts.test",),
                served_at=START,
            )
        )


def _print(count: int, counted: int, elapsed: float, counter: WriteCounter, days: int) -> int:
    allowed = 2 * count + days
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, moto server over HTTP")
    print(f"reports: {count} ({counted} counted), domain-days touched: {days}")
    print(f"throughput: {count / elapsed:,.0f} reports/s ({elapsed:.1f} s)")
    print(
        f"DynamoDB write items: {counter.total()} = {counter.total() / count:.2f} per report "
        f"({dict(counter.items)}); allowed: 2 per report + 1 per domain-day = {allowed}"
    )
    met = counter.total() <= allowed and counted == count
    print("target met" if met else "TARGET MISSED")
    return 0 if met else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1_000)
    args = parser.parse_args()
    sys.exit(run(args.reports, args.chunk))


if __name__ == "__main__":
    main()
