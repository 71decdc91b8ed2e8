"""API keys: ``X-Api-Key`` checked in constant time, errors in remove.bg's format.

A missing key gets 401, a wrong key 403 (remove.bg answers 403 to both; 401 for a missing
credential lets clients tell "you forgot the header" from "that key is not valid").
"""

from __future__ import annotations

import hmac
import secrets
from typing import Sequence

from RMBG.server.errors import ApiError

#: The request header carrying the key (HTTP header names are case-insensitive).
API_KEY_HEADER = "X-Api-Key"


def generate_api_key() -> str:
    """A new random key (32 bytes from :mod:`secrets`, URL-safe base64, 43 characters)."""
    return secrets.token_urlsafe(32)


class ApiKeyAuth:
    """Checks presented keys against the configured ones.

    Args:
        keys: the accepted keys; at least one.

    Raises:
        ValueError: no key given.
    """

    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise ValueError(
                "api_keys: no API key configured; set RMBG_API_KEYS (comma-separated), api_keys in the "
                "config file, or pass --api-key (the serve command generates one when none is set)"
            )
        self._keys = tuple(key.encode("utf-8") for key in keys)

    def is_valid(self, presented: str) -> bool:
        """Whether ``presented`` is one of the keys. Compares against every key, each in constant time."""
        candidate = presented.encode("utf-8", errors="surrogateescape")
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        return matched

    def check(self, presented: str | None) -> None:
        """Raise :class:`ApiError` 401 when no key was sent, 403 when it is not valid."""
        if presented is None or presented == "":
            raise ApiError(
                401, "auth_missing", "Missing API Key",
                f"send your key in the {API_KEY_HEADER} request header",
                headers={"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'},
            )
        if not self.is_valid(presented):
            raise ApiError(
                403, "auth_failed", "Invalid API Key",
                f"the {API_KEY_HEADER} header does not hold a key this server accepts; check RMBG_API_KEYS or "
                "api_keys in the server's config",
            )
