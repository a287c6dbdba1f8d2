"""What the fixture's functions share through a layer: how an event becomes a stored record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class MissingRecordIdError(ValueError):
    """The event names no record id, so there is nothing to store it under."""


def record_item(event: Mapping[str, Any]) -> dict[str, str]:
    record_id = event.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise MissingRecordIdError("the event has no 'id' to record it under")
    return {
        "pk": record_id,
        "kind": str(event.get("kind", "note")),
        "event": json.dumps(dict(event), sort_keys=True),
    }
