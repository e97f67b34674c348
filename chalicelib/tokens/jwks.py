"""Our own JWK Set (RFC 7517 §5): the current signing key first, then retired keys."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .keys import jwk_thumbprint, public_jwk
from .signer import Signer

__all__ = ["KeySet"]


class KeySet:
    """Verification keys by ``kid`` (RFC 7638 thumbprint) and the JWKS document.

    Built lazily on first use (a KMS signer is not contacted at construction), then
    reused. Retired keys stay until the tokens they signed have expired.
    """

    def __init__(self, signer: Signer, retired_public_keys: Sequence[RSAPublicKey] = ()) -> None:
        self._signer = signer
        self._retired = tuple(retired_public_keys)
        for key in self._retired:
            if not isinstance(key, RSAPublicKey):
                raise TypeError("retired keys must be RSA public keys")
        self._keys: dict[str, RSAPublicKey] | None = None
        self._jwks: tuple[dict[str, Any], ...] = ()
        self._lock = threading.Lock()

    def _build(self) -> dict[str, RSAPublicKey]:
        keys = self._keys
        if keys is None:
            with self._lock:
                keys = self._keys
                if keys is None:
                    keys = {self._signer.kid: self._signer.public_key()}
                    for retired in self._retired:
                        keys.setdefault(jwk_thumbprint(retired), retired)
                    self._jwks = tuple(public_jwk(key, kid) for kid, key in keys.items())
                    self._keys = keys
        return keys

    def get(self, kid: str) -> RSAPublicKey | None:
        """The public key for ``kid``, or None when it is not one of ours."""
        if not isinstance(kid, str):
            return None
        return self._build().get(kid)

    def document(self) -> dict[str, Any]:
        """``{"keys": [...]}``, public members only (fresh dicts; the cache is kept)."""
        self._build()
        return {"keys": [dict(jwk) for jwk in self._jwks]}
