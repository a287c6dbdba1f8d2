"""The world's senders, as the demo's evidence depends on them: MTA-STS-aware sending MTAs
(RFC 8461 §5) over the world's real DNS, HTTPS and SMTP, under policies the product deployed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from mtasts_local.aws.template import DeployedStack
from mtasts_local.cloudflare.state import DnsRecord
from mtasts_local.demo_fleet import world_network
from mtasts_local.senders import NO_POLICY, SendingMta
from mtasts_local.world import LocalWorld
from tests.integration.product import invoke

TODAY = date(2026, 12, 1)


def sender(world: LocalWorld) -> SendingMta:
    return SendingMta(
        "Giant Mail",
        "giantmail.test",
        world_network(world),
        lambda: datetime(2026, 12, 1, tzinfo=UTC),
    )


def deploy(world: LocalWorld, product: DeployedStack, domain: str, mode: str) -> None:
    outcome = invoke(world, product, "DeployPolicyFunction", {"domain": domain, "mode": mode})
    assert "error" not in outcome, outcome


def test_without_a_policy_tls_is_opportunistic_and_nothing_fails(world: LocalWorld) -> None:
    (session,) = sender(world).send("expired.example", 1)

    assert session.policy.policy_type == NO_POLICY
    assert session.result_type is None  # no policy: the expired certificate is not checked
    assert [m.tls for m in world.sink.messages("mail.expired.example")] == [True]


def test_testing_reports_the_expired_certificate_and_still_delivers(
    world: LocalWorld, product: DeployedStack
) -> None:
    deploy(world, product, "expired.example", "testing")

    (session,) = sender(world).send("expired.example", 1)

    assert (session.policy.policy_type, session.policy.enforce) == ("sts", False)
    assert "mode: testing" in session.policy.lines
    assert session.result_type == "certificate-expired"
    assert session.day == TODAY
    assert len(world.sink.messages("mail.expired.example")) == 1


def test_enforce_withholds_mail_from_a_host_with_an_expired_certificate(
    world: LocalWorld, product: DeployedStack
) -> None:
    deploy(world, product, "expired.example", "enforce")

    sessions = sender(world).send("expired.example", 2)

    assert [s.result_type for s in sessions] == ["certificate-expired"] * 2
    assert world.sink.messages("mail.expired.example") == []


def test_enforce_skips_a_host_the_policy_does_not_cover_and_uses_the_next(
    world: LocalWorld, product: DeployedStack
) -> None:
    deploy(world, product, "moving.example", "enforce")  # covers mx1.moving.example only
    mta = sender(world)
    assert [s.result_type for s in mta.send("moving.example", 1)] == [None]
    zone = world.cloudflare.zone_for("moving.example")
    assert zone is not None
    new_primary = DnsRecord(
        uuid.uuid4().hex,
        zone.id,
        zone.name,
        "MX",
        "moving.example",
        "mx2.moving.example",
        priority=1,
    )
    world.cloudflare.put_record(new_primary)

    sessions = mta.send("moving.example", 1)

    assert [(s.mx_host, s.result_type) for s in sessions] == [
        ("mx2.moving.example", "validation-failure"),
        ("mx1.moving.example", None),
    ]
    assert world.sink.messages("mx2.moving.example") == []
    assert len(world.sink.messages("mx1.moving.example")) == 2


def test_a_new_id_makes_the_sender_fetch_the_new_policy(
    world: LocalWorld, product: DeployedStack
) -> None:
    mta = sender(world)
    deploy(world, product, "selfhosted.example", "testing")
    assert mta.send("selfhosted.example", 1)[0].policy.enforce is False
    deploy(world, product, "selfhosted.example", "enforce")

    (session,) = mta.send("selfhosted.example", 1)

    assert session.policy.enforce is True and session.result_type is None
    assert mta.take_sessions(before=date(2026, 12, 2)) and not mta.take_sessions(before=TODAY)
