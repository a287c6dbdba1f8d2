"""Where a running local world can be reached: what `mtasts local up` writes to
`endpoints.json` and prints. The model is the core's (`mtasts.local_endpoints`), so readers
outside the world share its keys; writing the file is the world's job.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mtasts.local_endpoints import (
    DEFAULT_STATE_DIR,
    ENDPOINTS_FILE,
    Endpoints,
    HostPort,
    read_endpoints,
)


def write_endpoints(endpoints: Endpoints, path: Path) -> None:
    """Write atomically: a reader polling for the file never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(endpoints.dump(), indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


__all__ = [
    "DEFAULT_STATE_DIR",
    "ENDPOINTS_FILE",
    "Endpoints",
    "HostPort",
    "read_endpoints",
    "write_endpoints",
]
