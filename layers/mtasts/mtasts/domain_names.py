"""Mail domain names as the product accepts them: one canonical spelling per domain.

A domain is the key of everything (the policy host name, the Pages project, the store), so two
spellings of one domain must never become two domains: names are lowercased, a trailing dot is
dropped and Unicode is turned into A-labels with Python's built-in IDNA 2003 codec. The few names
where IDNA 2003 and 2008 disagree (`ß`, final sigma, joiners) should be given as A-labels.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from mtasts.errors import MtaStsError

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_NAME_LENGTH = 253


class DomainNameError(MtaStsError, ValueError):
    """Not a domain name the product can manage. A ValueError too, so pydantic reports it."""


def dns_name(name: str) -> str:
    """Any DNS name (record names like `_mta-sts.example.com` included) as DNS compares it:
    lowercase, no trailing dot, A-labels for Unicode. Lenient: a name IDNA refuses is only
    lowercased, since comparing it is all that is asked here."""
    text = name.strip().rstrip(".").lower()
    if text.isascii():
        return text
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        return text


def canonical_domain(name: str) -> str:
    """The canonical spelling of a mail domain, or DomainNameError saying what is wrong."""
    text = dns_name(name)
    if not text:
        raise DomainNameError("a domain name is required")
    if not text.isascii():
        raise DomainNameError(f"{name!r} is not a valid internationalised name")
    labels = text.split(".")
    if len(labels) < 2:
        raise DomainNameError(f"{name!r} needs at least two labels (like example.com)")
    if len(text) > MAX_NAME_LENGTH:
        raise DomainNameError(f"{name!r} is longer than {MAX_NAME_LENGTH} characters")
    bad = next((label for label in labels if not _LABEL.fullmatch(label)), None)
    if bad is not None:
        raise DomainNameError(f"{name!r} has an invalid label {bad!r}")
    if labels[-1].isdigit():
        raise DomainNameError(f"{name!r} looks like an address, not a domain name")
    return text


DomainName = Annotated[str, AfterValidator(canonical_domain)]
