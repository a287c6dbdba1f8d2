"""The pure Pages rules: project names, the `_headers` file and the manifest hash."""

from __future__ import annotations

import base64
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mtasts.domain_names import dns_name
from mtasts.pages_project import (
    MAX_PROJECT_NAME,
    custom_host,
    headers_file,
    manifest_hash,
    manifest_path,
    project_name,
)
from mtasts.ports import POLICY_PATH

PAGES_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")

label = st.from_regex(r"[a-zA-Z0-9_]([a-zA-Z0-9\-_]{0,61}[a-zA-Z0-9_])?", fullmatch=True)
domains = st.lists(label, min_size=1, max_size=6).map(".".join)
any_text = st.text(min_size=1, max_size=300)


# --- project names -------------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.one_of(domains, any_text))
def test_every_name_follows_the_pages_rules(domain: str) -> None:
    name = project_name(domain)

    assert len(name) <= MAX_PROJECT_NAME
    assert PAGES_NAME.match(name), name


@settings(max_examples=100)
@given(st.lists(domains, min_size=2, max_size=50, unique_by=dns_name))
def test_distinct_domains_never_share_a_project(sample: list[str]) -> None:
    names = {project_name(domain) for domain in sample}

    assert len(names) == len(sample)


@given(domains)
def test_the_name_ignores_case_and_a_trailing_dot(domain: str) -> None:
    assert project_name(domain.upper() + ".") == project_name(domain.lower())


def test_names_that_slug_alike_still_differ() -> None:
    assert project_name("a-b.com") != project_name("a.b-com")
    assert project_name("a-b.com").startswith("mta-sts-a-b-com-")


def test_a_long_domain_is_cut_but_stays_recognisable() -> None:
    domain = "a-very-long-label-that-goes-on-and-on." * 3 + "example.com"

    name = project_name(domain)

    assert len(name) == MAX_PROJECT_NAME
    assert name.startswith("mta-sts-a-very-long-label")
    assert project_name(domain.replace("example.com", "example.org")) != name


def test_an_idn_maps_to_its_a_label_form() -> None:
    assert dns_name("Bücher.DE.") == "xn--bcher-kva.de"
    assert project_name("bücher.de") == project_name("xn--bcher-kva.de")
    assert custom_host("Bücher.de") == "mta-sts.xn--bcher-kva.de"


def test_a_name_without_a_single_usable_character_is_only_the_hash() -> None:
    name = project_name("...")

    assert PAGES_NAME.match(name)
    assert re.fullmatch(r"mta-sts-[a-z2-7]{10}", name)


# --- _headers ------------------------------------------------------------------------------------


def test_headers_give_the_policy_plain_text_and_a_short_cache_life() -> None:
    lines = headers_file().decode("ascii").splitlines()

    assert lines[0] == f"/{POLICY_PATH}"
    rules = dict(line.strip().split(": ", 1) for line in lines[1:])
    assert rules["Content-Type"] == "text/plain; charset=utf-8"
    cache = rules["Cache-Control"]
    assert re.search(r"\bmax-age=300\b", cache)
    for lasting in ("s-maxage", "immutable", "stale-while-revalidate", "stale-if-error"):
        assert lasting not in cache


def test_the_cache_life_can_be_chosen() -> None:
    assert b"max-age=60," in headers_file(60)


# --- manifest ------------------------------------------------------------------------------------


def test_the_manifest_hash_matches_what_wrangler_sent() -> None:
    # Both pairs from ../shared/cloudflare/wrangler-pages-deploy-wire.jsonl.
    policy = base64.b64decode(
        "dmVyc2lvbjogU1RTdjEKbW9kZTogdGVzdGluZwpteDogbXgxLmV4YW1wbGUudGVzdAptYXhfYWdlOiA4NjQwMAo="
    )

    assert manifest_hash(policy, "/.well-known/mta-sts.txt") == "eb2c2295094c28208a03609d1b485f6c"
    assert manifest_hash(b"hello", "/index.html") == "a2b82584e50075886b08927390f2f573"


def test_the_extension_is_part_of_the_hash() -> None:
    assert manifest_hash(b"x", "/a.txt") != manifest_hash(b"x", "/a.html")
    assert manifest_hash(b"x", "/a.txt") == manifest_hash(b"x", "other/b.txt")
    assert len(manifest_hash(b"", "/no-extension")) == 32


def test_manifest_paths_are_rooted() -> None:
    assert manifest_path(POLICY_PATH) == "/.well-known/mta-sts.txt"
    assert manifest_path("/index.html") == "/index.html"
