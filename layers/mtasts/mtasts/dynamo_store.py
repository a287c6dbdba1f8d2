"""The policy state store and the audit log on one DynamoDB table.

Layout (partition `pk`, sort `sk`):
    DOMAIN#<domain>  POLICY                      the published policy state (optimistic version)
    DOMAIN#<domain>  AUDIT#<iso time>#<nonce>    one audit entry; newest last in sort order
Each item keeps its model as JSON in `data`, so the schema lives in the pydantic models, not in
attribute maps. The client is passed in (tests point it at moto over HTTP).
"""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import ClientError

from mtasts.errors import MtaStsError, StoreConflictError
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
        try:
            return getattr(self._client, operation)(**kwargs)
        except ClientError as error:
            raise StoreError(f"DynamoDB {operation} on {self._table} failed: {error}") from error


def _key(domain: str, sort_key: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": domain_pk(domain)}, "sk": {"S": sort_key}}


def _expected_version(version: int) -> tuple[str, dict[str, Any]]:
    if version == 0:
        return "attribute_not_exists(pk)", {}
    return "version = :expected", {"ExpressionAttributeValues": {":expected": {"N": str(version)}}}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
