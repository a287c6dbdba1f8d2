"""Domain configurations on the domains table, in one partition so they list in name order.

    DOMAINS  <domain>   the domain's configuration (JSON in `data`), its `state` and `version`

One partition keeps paging simple and ordered (a Query with a start key); the write rate is a
few changes per domain per day, far below a partition's limits even for 100,000 domains.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mtasts.domain_config import DomainConfig, Lifecycle
from mtasts.dynamo_store import StoreError
from mtasts.errors import DomainExistsError, StoreConflictError

DIRECTORY_PK = "DOMAINS"


def _key(domain: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": DIRECTORY_PK}, "sk": {"S": domain}}


class DynamoDomainConfigStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, domain: str) -> DomainConfig | None:
        try:
            item = self._client.get_item(
                TableName=self._table, Key=_key(domain), ConsistentRead=True
            ).get("Item")
        except ClientError as error:
            raise StoreError(f"reading {domain}'s configuration failed: {error}") from error
        return DomainConfig.model_validate_json(item["data"]["S"]) if item else None

    def create(self, config: DomainConfig) -> DomainConfig:
        try:
            return self._put(config, "attribute_not_exists(pk)", {})
        except StoreConflictError as error:
            raise DomainExistsError(f"{config.domain} is already managed") from error

    def save(self, config: DomainConfig) -> DomainConfig:
        values = {":v": {"N": str(config.version)}}
        return self._put(config, "version = :v", values)

    def page(
        self, limit: int, after: str | None = None, state: Lifecycle | None = None
    ) -> tuple[list[DomainConfig], str | None]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": DIRECTORY_PK}},
            "Limit": limit,
        }
        if after:
            request["ExclusiveStartKey"] = _key(after)
        if state is not None:
            request["FilterExpression"] = "#state = :state"
            request["ExpressionAttributeNames"] = {"#state": "state"}
            request["ExpressionAttributeValues"][":state"] = {"S": state.value}
        found: list[DomainConfig] = []
        while True:
            try:
                reply = self._client.query(**request)
            except ClientError as error:
                raise StoreError(f"listing domains failed: {error}") from error
            found += [DomainConfig.model_validate_json(i["data"]["S"]) for i in reply["Items"]]
            last = reply.get("LastEvaluatedKey")
            if len(found) >= limit and (last or len(found) > limit):
                return found[:limit], found[limit - 1].domain
            if not last:
                return found, None
            request["ExclusiveStartKey"] = last

    def _put(self, config: DomainConfig, condition: str, values: dict[str, Any]) -> DomainConfig:
        saved = config.model_copy(update={"version": config.version + 1})
        request: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **_key(config.domain),
                "data": {"S": saved.model_dump_json()},
                "state": {"S": saved.state.value},
                "version": {"N": str(saved.version)},
            },
            "ConditionExpression": condition,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self._client.put_item(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise StoreConflictError(
                    f"{config.domain}: the configuration changed since it was read"
                ) from error
            raise StoreError(f"saving {config.domain}'s configuration failed: {error}") from error
        return saved
