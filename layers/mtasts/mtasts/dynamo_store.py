"""The policy state store and the audit log on one DynamoDB table.

Layout (partition `pk`, sort `sk`):
    DOMAIN#<domain>  POLICY                      the published policy state (optimistic version)
    DOMAIN#<domain>  AUDIT#<iso time>#<nonce>    one audit entry; newest last in sort order
    DOMAIN#<domain>  VALIDATION#LATEST           the latest validation verdict
    DOMAIN#<domain>  VALIDATION#AT#<iso time>    one verdict of the history (TTL `expires_at`)
    DOMAIN#<domain>  MXSEEN                      when each mx pattern last matched a live MX
Each item keeps its model as JSON in `data`, so the schema lives in the pydantic models, not in
attribute maps. The client is passed in (tests point it at moto over HTTP).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mtasts.errors import MtaStsError, StoreConflictError
from mtasts.fleet_validation import HISTORY_DAYS, ValidationRecord
from mtasts.policy_state import AuditEntry, PublishedPolicy

POLICY_SK = "POLICY"
AUDIT_PREFIX = "AUDIT#"


class StoreError(MtaStsError):
    """DynamoDB refused or failed a request the store had to make."""


def domain_pk(domain: str) -> str:
    return f"DOMAIN#{domain}"


class DynamoPolicyStore:
    """`PolicyStateStore` and `AuditLog` on the domains table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def load(self, domain: str) -> PublishedPolicy | None:
        item = self._call(
            "get_item",
            TableName=self._table,
            Key=_key(domain, POLICY_SK),
            ConsistentRead=True,
        ).get("Item")
        return PublishedPolicy.model_validate_json(item["data"]["S"]) if item else None

    def save(self, state: PublishedPolicy) -> PublishedPolicy:
        saved = state.model_copy(update={"version": state.version + 1})
        condition, values = _expected_version(state.version)
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **_key(state.domain, POLICY_SK),
                    "data": {"S": saved.model_dump_json()},
                    "version": {"N": str(saved.version)},
                },
                ConditionExpression=condition,
                **values,
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise StoreConflictError(
                    f"{state.domain}: the policy state changed since it was read (version "
                    f"{state.version}); reread and retry"
                ) from error
            raise StoreError(f"{state.domain}: saving the policy state failed: {error}") from error
        return saved

    def delete(self, domain: str) -> None:
        self._call("delete_item", TableName=self._table, Key=_key(domain, POLICY_SK))

    def append(self, entry: AuditEntry) -> None:
        sort_key = f"{AUDIT_PREFIX}{entry.at.isoformat()}#{secrets.token_hex(4)}"
        self._call(
            "put_item",
            TableName=self._table,
            Item={**_key(entry.domain, sort_key), "data": {"S": entry.model_dump_json()}},
        )

    def history(self, domain: str, limit: int = 100) -> list[AuditEntry]:
        reply = self._call(
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": domain_pk(domain)},
                ":prefix": {"S": AUDIT_PREFIX},
            },
            ScanIndexForward=False,
            Limit=limit,
        )
        return [AuditEntry.model_validate_json(item["data"]["S"]) for item in reply["Items"]]

    def _call(self, operation: str, **kwargs: Any) -> Any:
        return _call(self._client, self._table, operation, **kwargs)


def _call(client: Any, table: str, operation: str, **kwargs: Any) -> Any:
    try:
        return getattr(client, operation)(**kwargs)
    except ClientError as error:
        raise StoreError(f"DynamoDB {operation} on {table} failed: {error}") from error


def query_range(client: Any, table: str, domain: str, first: str, last: str) -> list[Any]:
    """Every item of the domain whose sort key lies between `first` and `last` (inclusive), in
    sort-key order, across pages."""
    pages = client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
        ExpressionAttributeValues={
            ":pk": {"S": domain_pk(domain)},
            ":first": {"S": first},
            ":last": {"S": last},
        },
    )
    try:
        return [item for page in pages for item in page["Items"]]
    except ClientError as error:
        raise StoreError(f"reading {domain}'s items from {table} failed: {error}") from error


def _key(domain: str, sort_key: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": domain_pk(domain)}, "sk": {"S": sort_key}}


def _expected_version(version: int) -> tuple[str, dict[str, Any]]:
    if version == 0:
        return "attribute_not_exists(pk)", {}
    return "version = :expected", {"ExpressionAttributeValues": {":expected": {"N": str(version)}}}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


VALIDATION_LATEST_SK = "VALIDATION#LATEST"
VALIDATION_PREFIX = "VALIDATION#AT#"


class DynamoValidationStore:
    """`ValidationStore` on the domains table: the managed domains are those with a published
    policy; each run's result is the latest and a history item that DynamoDB's TTL expires."""

    def __init__(self, client: Any, table_name: str, history_days: int = HISTORY_DAYS) -> None:
        self._client = client
        self._table = table_name
        self._history = timedelta(days=history_days)

    def managed_domains(self) -> dict[str, PublishedPolicy]:
        managed: dict[str, PublishedPolicy] = {}
        paginator = self._client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self._table,
            FilterExpression="sk = :policy",
            ExpressionAttributeValues={":policy": {"S": POLICY_SK}},
            ConsistentRead=True,
        )
        try:
            for page in pages:
                for item in page["Items"]:
                    state = PublishedPolicy.model_validate_json(item["data"]["S"])
                    managed[state.domain] = state
        except ClientError as error:
            raise StoreError(
                f"listing the managed domains in {self._table} failed: {error}"
            ) from error
        return managed

    def latest(self, domain: str) -> ValidationRecord | None:
        item = _call(
            self._client,
            self._table,
            "get_item",
            TableName=self._table,
            Key=_key(domain, VALIDATION_LATEST_SK),
        ).get("Item")
        return ValidationRecord.model_validate_json(item["data"]["S"]) if item else None

    def record(self, result: ValidationRecord) -> None:
        data = {"S": result.model_dump_json()}
        expires = int((result.checked_at + self._history).timestamp())
        history_key = f"{VALIDATION_PREFIX}{result.checked_at.isoformat()}"
        for sort_key, extra in (
            (VALIDATION_LATEST_SK, {}),
            (history_key, {"expires_at": {"N": str(expires)}}),
        ):
            _call(
                self._client,
                self._table,
                "put_item",
                TableName=self._table,
                Item={**_key(result.domain, sort_key), "data": data, **extra},
            )

    def history(self, domain: str, limit: int = 100) -> list[ValidationRecord]:
        reply = _call(
            self._client,
            self._table,
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": domain_pk(domain)},
                ":prefix": {"S": VALIDATION_PREFIX},
            },
            ScanIndexForward=False,
            Limit=limit,
        )
        return [ValidationRecord.model_validate_json(i["data"]["S"]) for i in reply["Items"]]

    def since(self, domain: str, start: datetime) -> list[ValidationRecord]:
        """Every run from `start` on, oldest first: the promotion window needs all of them
        (an hourly validator makes 336 runs in 14 days, more than `history` returns)."""
        # '~' sorts after every character an ISO time uses: the end of the prefix.
        items = query_range(
            self._client,
            self._table,
            domain,
            f"{VALIDATION_PREFIX}{start.isoformat()}",
            f"{VALIDATION_PREFIX}~",
        )
        records = [ValidationRecord.model_validate_json(i["data"]["S"]) for i in items]
        return sorted((r for r in records if r.checked_at >= start), key=lambda r: r.checked_at)


MX_SEEN_SK = "MXSEEN"


class DynamoMxSeenStore:
    """When each `mx` pattern of a domain's policy last matched a live MX host (MX drift):

        DOMAIN#<domain>  MXSEEN    {"pattern": "iso time", ...} as JSON in `data`

    Kept apart from the POLICY item so that recording a sighting never races a deploy's
    optimistic version check."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def load(self, domain: str) -> dict[str, datetime]:
        item = _call(
            self._client,
            self._table,
            "get_item",
            TableName=self._table,
            Key=_key(domain, MX_SEEN_SK),
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return {}
        stored: dict[str, str] = json.loads(item["data"]["S"])
        return {pattern: datetime.fromisoformat(at) for pattern, at in stored.items()}

    def save(self, domain: str, seen: Mapping[str, datetime]) -> None:
        data = json.dumps({pattern: at.isoformat() for pattern, at in sorted(seen.items())})
        _call(
            self._client,
            self._table,
            "put_item",
            TableName=self._table,
            Item={**_key(domain, MX_SEEN_SK), "data": {"S": data}},
        )
