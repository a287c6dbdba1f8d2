"""TLS-RPT daily counts on the domains table, deduplicated exactly once.

Items (partition `pk`, sort `sk`):
    REPORT#<org>#<report id>  REPORT          the report was counted (expires after 40 days)
    DOMAIN#<domain>           DAY#<yyyy-mm-dd> the day's counters, one attribute per counter

A report is counted in ONE transaction: the REPORT item is put only if absent, and every day it
touches is incremented (`ADD`). Either all of it happens or none: a report delivered three times
counts once, a crash never counts half a report, and writes per report are 1 + one per
domain-day. Deduplication is on (organisation, report id): two reporters may use the same id.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mtasts.dynamo_store import StoreError, domain_pk, query_range
from mtasts.errors import MtaStsError
from mtasts.report_counts import DayContribution, DayTotals, ReportCounts

DEDUP_DAYS = 40  # senders retry for a day; reports older than this are refused anyway
MAX_DAYS_PER_REPORT = 99  # a transaction holds 100 items, one is the REPORT item
DAY_PREFIX = "DAY#"
REPORTERS = "reporters"
# Counter attribute prefixes: `ok:<policy type>`, `failed:<policy type>`,
# `result:<policy type>:<result type>`, `mx:<host>`, `org:<organisation>`.
OK, FAILED, RESULT, MX, ORG = "ok:", "failed:", "result:", "mx:", "org:"


class TooManyDomainsError(MtaStsError):
    """One report names more domain-days than one transaction can count atomically."""


def report_key(organization: str, report_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"REPORT#{organization}#{report_id}"}, "sk": {"S": "REPORT"}}


class DynamoReportStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def count_once(
        self, organization: str, report_id: str, counts: ReportCounts, received_at: datetime
    ) -> bool:
        """Add the report's counts unless it was counted before; False for a duplicate."""
        if len(counts.contributions) > MAX_DAYS_PER_REPORT:
            raise TooManyDomainsError(
                f"report {report_id} touches {len(counts.contributions)} domain-days; at most "
                f"{MAX_DAYS_PER_REPORT} can be counted at once"
            )
        expires = int((received_at + timedelta(days=DEDUP_DAYS)).timestamp())
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **report_key(organization, report_id),
                        "received_at": {"S": received_at.isoformat()},
                        "domains": {"S": ",".join(counts.domains)},
                        "expires_at": {"N": str(expires)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            *(self._increment(c) for c in counts.contributions),
        ]
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if _duplicate(error):
                return False
            raise StoreError(f"counting report {report_id} failed: {error}") from error
        return True

    def days(self, domain: str, first: date, last: date) -> list[DayTotals]:
        """The domain's days with data from `first` to `last` (inclusive), oldest first."""
        first_key, last_key = f"{DAY_PREFIX}{first.isoformat()}", f"{DAY_PREFIX}{last.isoformat()}"
        items = query_range(self._client, self._table, domain, first_key, last_key)
        return [_day_totals(item) for item in items]

    def _increment(self, contribution: DayContribution) -> dict[str, Any]:
        counters = _counters(contribution)
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values: dict[str, Any] = {f":c{i}": {"N": str(n)} for i, n in enumerate(counters.values())}
        actions = [f"#c{i} :c{i}" for i in range(len(counters))]
        if contribution.reporters:
            names["#r"] = REPORTERS
            values[":r"] = {"SS": sorted(contribution.reporters)}
            actions.append("#r :r")
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {
                "pk": {"S": domain_pk(contribution.domain)},
                "sk": {"S": f"{DAY_PREFIX}{contribution.day.isoformat()}"},
            },
            "UpdateExpression": "ADD " + ", ".join(actions) if actions else "SET #d = :d",
        }
        if not actions:  # a report with no sessions at all still marks the day as reported
            names, values = {"#d": "day"}, {":d": {"S": contribution.day.isoformat()}}
        update["ExpressionAttributeNames"] = names
        update["ExpressionAttributeValues"] = values
        return {"Update": update}


def _counters(c: DayContribution) -> dict[str, int]:
    counters: dict[str, int] = {}
    counters |= {OK + k: v for k, v in c.successful_by_policy_type.items()}
    counters |= {FAILED + k: v for k, v in c.failed_by_policy_type.items()}
    for policy_type, by_result in c.failures_by_result_type.items():
        counters |= {f"{RESULT}{policy_type}:{k}": v for k, v in by_result.items()}
    counters |= {MX + k: v for k, v in c.failures_by_mx.items()}
    counters |= {ORG + k: v for k, v in c.failures_by_reporter.items()}
    return counters


def _day_totals(item: dict[str, Any]) -> DayTotals:
    totals = DayTotals(
        day=date.fromisoformat(item["sk"]["S"].removeprefix(DAY_PREFIX)),
        reporters=frozenset(item.get(REPORTERS, {}).get("SS", ())),
    )
    for name, value in item.items():
        if "N" not in value:
            continue
        number = int(value["N"])
        prefix, _, rest = name.partition(":")
        if prefix == "result":
            policy_type, _, result_type = rest.partition(":")
            totals.failures_by_result_type.setdefault(policy_type, {})[result_type] = number
            continue
        target = {
            "ok": totals.successful_by_policy_type,
            "failed": totals.failed_by_policy_type,
            "mx": totals.failures_by_mx,
            "org": totals.failures_by_reporter,
        }.get(prefix)
        if target is not None:
            target[rest] = number
    return totals


def _duplicate(error: ClientError) -> bool:
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    return bool(reasons) and reasons[0].get("Code") == "ConditionalCheckFailed"
