"""Pure rules for hosting a domain's policy on Cloudflare Pages: the project's name, the
`_headers` file, and the hash a direct-upload manifest names a file by.

No network and no SDK here: the Pages adapter (`cloudflare_pages`) calls these.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import PurePosixPath

import blake3

from mtasts.domain_names import dns_name
from mtasts.ports import POLICY_PATH

PROJECT_PREFIX = "mta-sts-"
MAX_PROJECT_NAME = 58  # Pages refuses longer names
HASH_CHARS = 10  # 50 bits of a digest, in base32
POLICY_CACHE_SECONDS = 300
POLICY_CONTENT_TYPE = "text/plain; charset=utf-8"
MANIFEST_HASH_CHARS = 32

_NOT_NAME_CHARS = re.compile(r"[^a-z0-9]+")


def project_name(domain: str) -> str:
    """The Pages project that hosts `mta-sts.<domain>`.

    A readable slug alone is not enough: `a-b.com` and `a.b-com` slug alike, and a long domain
    must be cut. A short hash of the whole canonical domain keeps two domains from ever
    sharing a project (one project serving two domains' policies would mix them up), and the
    slug keeps the name recognisable in the dashboard.
    """
    canonical = dns_name(domain)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    suffix = base64.b32encode(digest).decode("ascii").lower()[:HASH_CHARS]
    room = MAX_PROJECT_NAME - len(PROJECT_PREFIX) - len(suffix) - 1
    slug = _NOT_NAME_CHARS.sub("-", canonical)[:room].strip("-")
    return f"{PROJECT_PREFIX}{slug}-{suffix}" if slug else f"{PROJECT_PREFIX}{suffix}"


def custom_host(domain: str) -> str:
    """The host name RFC 8461 §3.3 fetches the policy from."""
    return f"mta-sts.{dns_name(domain)}"


def headers_file(cache_seconds: int = POLICY_CACHE_SECONDS) -> bytes:
    """The `_headers` rules for the policy file.

    RFC 8461 §3.3 wants `text/plain`. The cache lifetime is short and nothing (no `s-maxage`,
    `immutable` or `stale-*`) lets a shared cache keep the file longer: the id is rotated only
    once the new bytes are seen, and a sender that refetches after a rotation must get them.
    """
    lines = (
        f"/{POLICY_PATH}",
        f"  Content-Type: {POLICY_CONTENT_TYPE}",
        f"  Cache-Control: max-age={cache_seconds}, must-revalidate",
        "  X-Content-Type-Options: nosniff",
    )
    return ("\n".join(lines) + "\n").encode("ascii")


def manifest_hash(content: bytes, path: str) -> str:
    """The key a Pages manifest names a file by, computed the way wrangler computes it, so a
    file wrangler uploaded is recognised as already present (and vice versa)."""
    extension = PurePosixPath(path).suffix.removeprefix(".")
    material = base64.b64encode(content) + extension.encode("utf-8")
    return blake3.blake3(material).hexdigest()[:MANIFEST_HASH_CHARS]


def manifest_path(path: str) -> str:
    """A site path as a manifest writes it: rooted at `/`."""
    return "/" + path.lstrip("/")
