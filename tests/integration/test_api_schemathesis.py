"""schemathesis against the product's API on the local world (the bounded run for `make test`;
`benchmarks/api_fuzz.py` runs longer): at least 1,000 generated requests from the API's own
OpenAPI document, no server error, no answer that breaks the document."""

from __future__ import annotations

from mtasts_local.drivers.api_gateway import LocalApiGateway
from tests.integration.api_fuzz_runner import fuzz
from tests.integration.test_api_world import api, gateway  # noqa: F401  (fixtures)


def test_generated_requests_get_no_server_error_and_no_schema_breaking_answer(
    gateway: LocalApiGateway,  # noqa: F811
) -> None:
    result = fuzz(gateway.url, gateway.api_key, examples=60)

    print(f"\n{result.requests} requests in {result.seconds:.1f} s: {dict(result.statuses)}")
    assert result.requests >= 1000
    assert result.server_errors == 0, "\n".join(result.failures[:10])
    assert result.nonconforming == 0, "\n".join(result.failures[:10])
