"""The task layer: events in, JSON out, typed errors for bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mtasts.deploy_tasks import InvalidTaskInputError, run_deploy_task, run_rotate_task
from mtasts.domain_config import DomainConfig, Lifecycle
from mtasts.settings import load_settings
from tests.functional.test_deploy import DOMAIN, make_rig, request

SETTINGS = load_settings({"REPORT_RUA": "mailto:tlsrpt@reports.example.net"})


def test_a_deploy_event_uses_the_fleet_defaults_and_returns_json() -> None:
    rig = make_rig()
    result = run_deploy_task(
        {
            "domain": "EXAMPLE.com.",
            "mode": "enforce",
            "mx": ["mx1.example.com", "mx2.example.com"],
            "execution": "ignored",
        },
        rig.deployer,
        SETTINGS,
    )
    assert result["domain"] == DOMAIN and result["mode"] == "enforce"
    assert result["policy_changed"] is True and result["changed"] is True
    assert b"max_age: 604800" in (rig.served() or b"")
    assert [r["name"] for r in result["records"]] == [f"_mta-sts.{DOMAIN}", f"_smtp._tls.{DOMAIN}"]
    assert rig.dns.txt_records(f"_smtp._tls.{DOMAIN}")[0].content.endswith(
        "rua=mailto:tlsrpt@reports.example.net"
    )


def test_rotate_announces_what_deploy_published() -> None:
    rig = make_rig()
    published, _ = rig.deployer.publish(request())
    result = run_rotate_task({"domain": DOMAIN, "request_id": "sfn-1"}, rig.deployer)
    assert result["policy_id"] == published.policy_id
    assert rig.dns.sts_contents(DOMAIN) == [f"v=STSv1; id={published.policy_id}"]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"mode": "testing"}, "domain"),
        ({"domain": "example.com", "mode": "strict"}, "mode"),
        ({"domain": "nodots", "mode": "testing"}, "domain"),
        ({"domain": "example.com", "mode": "testing", "max_age": -1}, "max_age"),
    ],
)
def test_bad_events_are_typed_errors_that_name_the_field(
    event: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidTaskInputError, match=field):
        run_deploy_task(event, make_rig().deployer, SETTINGS)


class Configs:
    def __init__(self, config: DomainConfig) -> None:
        self.config = config

    def get(self, domain: str) -> DomainConfig | None:
        return self.config if domain == self.config.domain else None

    def create(self, config: DomainConfig) -> DomainConfig:
        raise NotImplementedError

    def save(self, config: DomainConfig) -> DomainConfig:
        raise NotImplementedError

    def page(
        self, limit: int, after: str | None = None, state: Lifecycle | None = None
    ) -> tuple[list[DomainConfig], str | None]:
        raise NotImplementedError


def test_what_the_event_leaves_out_comes_from_the_domains_configuration() -> None:
    rig = make_rig()
    now = datetime(2026, 11, 29, tzinfo=UTC)
    configs = Configs(
        DomainConfig(
            domain=DOMAIN,
            mx=("*.example.com",),
            rua=("mailto:own@reports.example.org",),
            enforce_max_age=1209600,
            created_at=now,
            updated_at=now,
        )
    )
    result = run_deploy_task({"domain": DOMAIN, "mode": "enforce"}, rig.deployer, SETTINGS, configs)

    assert result["mx"] == ["*.example.com"]
    assert b"max_age: 1209600" in (rig.served() or b"")
    assert rig.dns.txt_records(f"_smtp._tls.{DOMAIN}")[0].content.endswith(
        "rua=mailto:own@reports.example.org"
    )
    explicit = run_deploy_task(
        {"domain": DOMAIN, "mode": "testing", "mx": ["mx1.example.com", "mx2.example.com"]},
        rig.deployer,
        SETTINGS,
        configs,
    )
    assert explicit["mx"] == ["mx1.example.com", "mx2.example.com"]
