"""The Pages asset store of the Cloudflare stand-in and the upload tokens that guard it.

The direct-upload sequence (see `../shared/cloudflare/wrangler-pages-deploy-wire.jsonl`): the
client fetches a JWT from `.../pages/projects/<name>/upload-token`, then calls
`/pages/assets/check-missing`, `/pages/assets/upload` and `/pages/assets/upsert-hashes` with that
JWT as its bearer token. Assets are stored under the key (hash) the client gives; the stand-in
does not recompute hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable

from mtasts_local.cloudflare.handlers_common import (
    ApiError,
    Auth,
    Call,
    JsonObject,
    Reply,
    Route,
    success,
)
from mtasts_local.cloudflare.state import Asset, CloudflareState

# Pages error codes; wrangler fetches a new upload token when it sees CODE_PAGES_UNAUTHORIZED.
CODE_PAGES_UNAUTHORIZED = 8000013
CODE_PAGES_BAD_REQUEST = 8000000

DEFAULT_TOKEN_TTL = 300.0  # seconds
MAX_FILE_COUNT = 20_000


class UploadTokens:
    """HS256 JWTs with the claims Cloudflare's upload tokens carry (`max_file_count_allowed`,
    `exp`), signed with a secret made when the stand-in is built."""

    def __init__(
        self, ttl: float = DEFAULT_TOKEN_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._secret = secrets.token_bytes(32)

    def issue(self) -> str:
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {"max_file_count_allowed": MAX_FILE_COUNT, "exp": int(self._clock() + self.ttl)}
        signing_input = f"{_b64_json(header)}.{_b64_json(claims)}"
        return f"{signing_input}.{_b64(self._sign(signing_input))}"

    def verify(self, token: str | None) -> JsonObject:
        """The token's claims; ApiError 401 when it is missing, forged or expired."""
        if token is None or token.count(".") != 2:
            raise _unauthorized("A valid upload JWT is required")
        signing_input, _, signature = token.rpartition(".")
        if not hmac.compare_digest(_b64(self._sign(signing_input)), signature):
            raise _unauthorized("The upload JWT's signature is invalid")
        claims = json.loads(_unb64(signing_input.split(".")[1]))
        if not isinstance(claims, dict) or claims.get("exp", 0) <= self._clock():
            raise _unauthorized("The upload JWT has expired")
        return claims

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()


class AssetHandlers:
    def __init__(self, state: CloudflareState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        jwt = Auth.UPLOAD_JWT
        return [
            Route(
                "pages.assets.check_missing",
                "POST",
                "/pages/assets/check-missing",
                self.check_missing,
                jwt,
            ),
            Route("pages.assets.upload", "POST", "/pages/assets/upload", self.upload, jwt),
            Route(
                "pages.assets.upsert_hashes",
                "POST",
                "/pages/assets/upsert-hashes",
                self.upsert_hashes,
                jwt,
            ),
        ]

    def check_missing(self, call: Call) -> Reply:
        hashes = _hashes(call)
        with self.state.lock:
            missing = [h for h in dict.fromkeys(hashes) if h not in self.state.assets]
        return success(missing)

    def upload(self, call: Call) -> Reply:
        body = call.json()
        if not isinstance(body, list) or not body:
            raise ApiError(400, CODE_PAGES_BAD_REQUEST, "The body must be a non-empty JSON array")
        assets = [_asset(entry) for entry in body]
        with self.state.lock:
            self.state.assets.update(assets)
        return success({"successful_key_count": len(assets), "unsuccessful_keys": []})

    def upsert_hashes(self, call: Call) -> Reply:
        # Cloudflare only refreshes the hashes' age here; the stand-in's assets never expire.
        _hashes(call)
        return success(None)


def _hashes(call: Call) -> list[str]:
    hashes = call.json_object().get("hashes")
    if not isinstance(hashes, list) or not all(isinstance(h, str) and h for h in hashes):
        raise ApiError(400, CODE_PAGES_BAD_REQUEST, "hashes must be a list of strings")
    return hashes


def _asset(entry: object) -> tuple[str, Asset]:
    """One `{key, value, metadata: {contentType}, base64}` entry of an upload."""
    if not isinstance(entry, dict):
        raise ApiError(400, CODE_PAGES_BAD_REQUEST, "Each upload entry must be an object")
    key, value, metadata = entry.get("key"), entry.get("value"), entry.get("metadata")
    if not isinstance(key, str) or not key or not isinstance(value, str):
        raise ApiError(400, CODE_PAGES_BAD_REQUEST, "Each upload entry needs a key and a value")
    content_type = metadata.get("contentType") if isinstance(metadata, dict) else None
    if not isinstance(content_type, str) or not content_type:
        raise ApiError(400, CODE_PAGES_BAD_REQUEST, f"Entry {key} needs metadata.contentType")
    if entry.get("base64") is not True:
        return key, Asset(value.encode(), content_type)
    try:
        return key, Asset(base64.b64decode(value, validate=True), content_type)
    except binascii.Error:
        raise ApiError(400, CODE_PAGES_BAD_REQUEST, f"Entry {key} is not valid base64") from None


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, CODE_PAGES_UNAUTHORIZED, message)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_json(value: object) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
