"""The local world's configuration: the default world, and clear errors for bad world files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtasts_local.config import (
    DEFAULT_WORLD,
    RESERVED_SUFFIXES,
    MxBehaviour,
    World,
    WorldConfigError,
    is_under,
    load_world,
)

MINIMAL = """
[cloudflare]
account_id = "0123456789abcdef0123456789abcdef"
api_token = "token"

[[zones]]
name = "one.example"
mx = [{ host = "mx1.one.example", preference = 10 }]

[[mx_hosts]]
name = "mx1.one.example"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "world.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str) -> World:
    return load_world(write(tmp_path, text))


def problem_fields(error: pytest.ExceptionInfo[WorldConfigError]) -> list[str]:
    return [field for field, _ in error.value.problems]


# --- the default world ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(None)


def test_none_loads_the_default_world_file(world: World) -> None:
    assert load_world(DEFAULT_WORLD) == world


def test_default_world_has_a_domain_hosted_by_a_big_provider(world: World) -> None:
    external = {host.name for host in world.external_hosts()}
    hosted = [z for z in world.zones if len(z.mx) >= 2 and set(z.mx_host_names) <= external]
    assert hosted, "no zone whose MX are all a provider's hosts outside every zone"
    names = hosted[0].mx_host_names
    provider_suffix = ".".join(names[0].split(".")[-2:])
    assert all(is_under(name, provider_suffix) for name in names)
    assert all(world.mx_host(name).behaviour is MxBehaviour.OK for name in names)


def test_default_world_has_a_self_hosted_domain_with_two_mx(world: World) -> None:
    self_hosted = [
        z
        for z in world.zones
        if len(z.mx) == 2 and all(world.zone_of(name) == z for name in z.mx_host_names)
    ]
    assert self_hosted
    assert {len(world.hosts_in_zone(z.name)) for z in self_hosted} == {2}


def test_default_world_has_exactly_one_domain_with_an_expired_mx_certificate(world: World) -> None:
    (expired,) = world.zones_with(MxBehaviour.EXPIRED_CERT)
    assert len(expired.mx) == 1
    assert world.mx_host(expired.mx[0].host).behaviour is MxBehaviour.EXPIRED_CERT
    broken = {b for b in MxBehaviour if b is not MxBehaviour.OK}
    assert [z for b in broken for z in world.zones_with(b)] == [expired]


def test_default_world_has_a_domain_ready_for_an_mx_change(world: World) -> None:
    ready = [z for z in world.zones if world.spare_mx_hosts(z.name)]
    assert len(ready) == 1
    (spare,) = world.spare_mx_hosts(ready[0].name)
    assert spare.name not in ready[0].mx_host_names
    assert spare.name in world.a_record_names()
    assert spare.behaviour is MxBehaviour.OK


def test_default_world_names_are_all_reserved(world: World) -> None:
    names = [z.name for z in world.zones] + [h.name for h in world.mx_hosts]
    names += [s.submitter for s in world.senders]
    assert all(any(is_under(n, suffix) for suffix in RESERVED_SUFFIXES) for n in names)


def test_default_world_has_an_account_and_senders(world: World) -> None:
    assert len(world.cloudflare.account_id) == 32
    assert world.cloudflare.api_token
    assert world.cloudflare.api_token not in repr(world)
    assert len({s.organization for s in world.senders}) == len(world.senders) >= 2


def test_every_mx_in_every_zone_gets_an_a_record(world: World) -> None:
    in_mx = {name for zone in world.zones for name in zone.mx_host_names}
    assert in_mx <= set(world.a_record_names())


def test_sender_contact_defaults_to_a_mailbox_at_the_submitter() -> None:
    world = World.model_validate(
        {
            "cloudflare": {"account_id": "0" * 32, "api_token": "t"},
            "zones": [{"name": "a.example", "mx": [{"host": "mx.a.example", "preference": 0}]}],
            "mx_hosts": [{"name": "mx.a.example"}],
            "senders": [{"organization": "Tiny ISP", "submitter": "tinyisp.test"}],
        }
    )
    assert world.senders[0].contact == "mailto:tlsrpt-noreply@tinyisp.test"


# --- reading world files -------------------------------------------------------------------------


def test_a_minimal_world_loads_and_names_are_canonical(tmp_path: Path) -> None:
    world = load_text(tmp_path, MINIMAL.replace('"mx1.one.example"\n', '"MX1.One.Example."\n'))
    assert world.mx_hosts[0].name == "mx1.one.example"
    assert world.mx_hosts[0].behaviour is MxBehaviour.OK
    assert world.external_hosts() == ()


def test_a_value_of_the_wrong_kind_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("preference = 10", 'preference = "high"'))
    with pytest.raises(WorldConfigError) as error:
        load_world(path)
    assert error.value.field == "zones[0].mx[0].preference"
    assert error.value.path == path
    assert str(path) in str(error.value) and "zones[0].mx[0].preference" in str(error.value)


def test_an_unknown_behaviour_is_rejected(tmp_path: Path) -> None:
    text = MINIMAL + 'behaviour = "slow"\n'
    with pytest.raises(WorldConfigError) as error:
        load_text(tmp_path, text)
    assert error.value.field == "mx_hosts[0].behaviour"


def test_a_misspelt_key_is_rejected_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(WorldConfigError) as error:
        load_text(tmp_path, MINIMAL + 'behavior = "no-starttls"\n')
    assert error.value.field == "mx_hosts[0].behavior"


def test_a_missing_section_is_named(tmp_path: Path) -> None:
    text = MINIMAL.split("[[zones]]")[0] + "[[mx_hosts]]\nname = 'mx1.one.example'\n"
    with pytest.raises(WorldConfigError) as error:
        load_text(tmp_path, text)
    assert error.value.field == "zones"


def test_a_real_domain_is_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "one.example"', 'name = "gmail.com"')
    with pytest.raises(WorldConfigError) as error:
        load_text(tmp_path, text)
    assert error.value.field == "zones[0].name"
    assert "reserved" in str(error.value)


def test_an_mx_record_must_name_a_defined_host(tmp_path: Path) -> None:
    second = '{ host = "mx2.one.example", preference = 20 }'
    text = MINIMAL.replace("preference = 10 }", f"preference = 10 }}, {second}")
    with pytest.raises(WorldConfigError) as error:
        load_text(tmp_path, text)
    assert error.value.field == "zones[0].mx[1].host"
    assert "mx2.one.example" in str(error.value)


def test_duplicates_are_named_by_their_second_entry(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[mx_hosts]]\nname = "MX1.one.example"\n'
    with pytest.raises(WorldConfigError) as error:
        load_text(tmp_path, text)
    assert problem_fields(error) == ["mx_hosts[1].name"]


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = MINIMAL.replace("preference = 10", "preference = -1").replace(
        'api_token = "token"', 'api_token = ""'
    )
    with pytest.raises(WorldConfigError) as error:
        load_text(tmp_path, text)
    assert set(problem_fields(error)) == {"cloudflare.api_token", "zones[0].mx[0].preference"}
    assert "(and 1 more)" in str(error.value)


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[[zones]\n")
    with pytest.raises(WorldConfigError) as error:
        load_world(path)
    assert error.value.field == ""
    assert str(path) in str(error.value) and "TOML" in str(error.value)


def test_a_missing_file_is_a_world_config_error(tmp_path: Path) -> None:
    with pytest.raises(WorldConfigError, match="cannot read"):
        load_world(tmp_path / "absent.toml")


def test_look_ups_of_unknown_names_fail_clearly(world: World) -> None:
    with pytest.raises(KeyError, match="nowhere.example"):
        world.zone("nowhere.example")
    with pytest.raises(KeyError, match="mx9.nowhere.example"):
        world.mx_host("mx9.nowhere.example")
