"""The local world for integration tests: started once per session (`local_world`), reset to its
seed before each test that asks for it (`world`), with the real Cloudflare SDK pointed at its
stand-in (`cloudflare_client`) and every stand-in answer checked against the OpenAPI subset.

The world runs `aws_fixture/world_template.yaml`: the product's template has no SES rule, API or
schedule yet. Test modules with fixtures of their own (a module-scoped `world`, say) keep them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest
from cloudflare import Cloudflare

from mtasts_local.aws.template import REPO_TEMPLATE, DeployedStack, deploy, read_template
from mtasts_local.config import load_world
from mtasts_local.world import LocalWorld, template_parameters

WORLD_TEMPLATE = Path(__file__).parent / "aws_fixture" / "world_template.yaml"
_SESSION_WORLD = "local_world"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # moto and the Lambda runner are one per process. Tests that start their own (test_aws_world,
    # the start/stop tests) must run while the session's world is not up: its tests go last
    # (otherwise in their own order) and it starts on the first of them.
    def uses_world(item: pytest.Item) -> bool:
        return _SESSION_WORLD in getattr(item, "fixturenames", ())

    items.sort(key=uses_world)


@pytest.fixture(scope="session")
def local_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    world = LocalWorld(
        load_world(None),
        state_dir=tmp_path_factory.mktemp("local-world"),
        template=WORLD_TEMPLATE,
        check_contract=True,
    )
    with world:
        yield world


@pytest.fixture
def world(local_world: LocalWorld) -> Iterator[LocalWorld]:
    """The session's world, back at its seed; fails the test if the stand-in broke its contract
    while it ran."""
    local_world.reset()
    yield local_world
    contract = local_world.stand_in.contract
    assert contract is not None
    if contract.violations:
        lines = [
            f"{v.method} {v.path} -> {v.status}: {'; '.join(v.problems)}"
            for v in contract.violations
        ]
        pytest.fail("the Cloudflare stand-in broke the OpenAPI contract:\n" + "\n".join(lines))


@pytest.fixture
def cloudflare_client(world: LocalWorld) -> Iterator[Cloudflare]:
    """The real SDK with strict response validation; no retries, so a fault shows as it is."""
    with Cloudflare(
        api_token=world.cloudflare.api_token,
        base_url=world.stand_in.base_url,
        _strict_response_validation=True,
        max_retries=0,
    ) as client:
        yield client


@pytest.fixture
def world_resolver(world: LocalWorld) -> dns.resolver.Resolver:
    """A dnspython resolver that asks only the world's DNS server."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [world.bind]
    resolver.port = world.dns.port
    resolver.lifetime = 5.0
    return resolver


@pytest.fixture
def product(world: LocalWorld) -> DeployedStack:
    """The product's stack, as `sam deploy` and an admin's token would leave it."""
    parameters = template_parameters(REPO_TEMPLATE, world.config, {})
    plan = read_template(REPO_TEMPLATE, parameters=parameters, region=world.aws.region)
    stack = deploy(plan, world.aws.client)
    world.aws.client("secretsmanager").put_secret_value(
        SecretId=stack.ref("CloudflareApiTokenSecret"), SecretString=world.cloudflare.api_token
    )
    world.lambda_runner.register_all(stack.function_code())
    return stack
