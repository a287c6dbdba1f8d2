"""One canonical spelling per domain, and clear refusals."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from mtasts.domain_names import DomainName, DomainNameError, canonical_domain


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Example.COM.", "example.com"),
        (" mail-1.example.co.uk ", "mail-1.example.co.uk"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_names_are_canonical(given: str, expected: str) -> None:
    assert canonical_domain(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "required"),
        ("localhost", "two labels"),
        ("-bad.example", "invalid label"),
        ("a..example", "invalid label"),
        ("under_score.example", "invalid label"),
        ("192.0.2.1", "address"),
        ("x" * 64 + ".example", "invalid label"),
        (("a" * 60 + ".") * 5 + "example", "longer than 253"),
    ],
)
def test_bad_names_say_why(given: str, reason: str) -> None:
    with pytest.raises(DomainNameError, match=reason):
        canonical_domain(given)


def test_models_canonicalise_and_report_bad_names() -> None:
    class Request(BaseModel):
        domain: DomainName

    assert Request(domain="EXAMPLE.org").domain == "example.org"
    with pytest.raises(ValidationError, match="two labels"):
        Request(domain="nodots")
