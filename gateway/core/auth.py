"""API-key authentication from `authorization: Bearer <key>` metadata.

Keys are checked by the KeyStore, which stores them hashed, compares in constant time and
holds the key table in memory, reloaded every `SENTIMENT_API_KEY_REFRESH_INTERVAL_S`.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.core.contracts import Caller, KeyRevoked, KeyStore, PersistenceUnavailable
from gateway.core.errors import AuthenticationError, DatabaseUnavailable, PermissionDeniedError

MAX_TOKEN_LENGTH = 512


def bearer_token(metadata: Mapping[str, str]) -> str:
    """The token of the `authorization` metadata; AuthenticationError when absent/malformed."""
    header = metadata.get("authorization")
    if not header:
        raise AuthenticationError("missing 'authorization: Bearer <key>' metadata")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("authorization metadata must be 'Bearer <key>'")
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        raise AuthenticationError("malformed API key")
    return token


class Authenticator:
    """Turns call metadata into a Caller, or raises AuthenticationError."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    async def authenticate(self, metadata: Mapping[str, str]) -> Caller:
        token = bearer_token(metadata)
        try:
            caller = await self._keys.authenticate(token)
        except PersistenceUnavailable as err:
            raise DatabaseUnavailable("key store unavailable; retry later") from err
        except KeyRevoked as err:
            raise PermissionDeniedError("this API key was revoked") from err
        if caller is None:
            raise AuthenticationError("unknown API key")
        return caller
