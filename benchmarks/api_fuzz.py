"""The long schemathesis run against the product's API on a local world (the bounded one runs
in `make test`): the world is started with the product's own `template.yaml`, so its API
Gateway serves the product's API with the real handler; requests come from the API's
`/openapi.json`, positive and negative, every answer checked for server errors and for
conformance to the document.

    .venv/bin/python -m benchmarks.api_fuzz [--examples 400]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from mtasts_local.config import load_world
from mtasts_local.world import LocalWorld
from tests.integration.api_fuzz_runner import fuzz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=400, help="per operation and mode")
    parser.add_argument("--seed", type=int, default=8)
    arguments = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as state,
        LocalWorld(load_world(None), state_dir=Path(state)) as world,
    ):
        result = fuzz(world.api.url, world.api_key, arguments.examples, arguments.seed)
    print(f"requests              {result.requests}")
    print(f"seconds               {result.seconds:.1f}")
    print(f"requests per second   {result.requests / max(result.seconds, 1e-9):.0f}")
    print(f"server errors (5xx)   {result.server_errors}")
    print(f"schema-breaking       {result.nonconforming}")
    print(f"statuses              {dict(sorted(result.statuses.items()))}")
    for failure in result.failures[:20]:
        print(f"  {failure}")
    return 1 if result.server_errors or result.nonconforming else 0


if __name__ == "__main__":
    raise SystemExit(main())
