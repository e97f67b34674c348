"""Federated agents: an agent of a tenant *is* one subject of one external issuer (an Auth0
tenant's M2M application, a Kubernetes service account, a GitHub Actions workflow, a cloud's
workload identity), and gets VaultGuard API tokens by presenting that issuer's JWT.

Pure rules, no I/O: what an identity is, which claim names the subject, which URLs may be
issuers. The JWT's signature and claims are checked in `chalicelib/tokens/federated.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523 §2.1
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # RFC 8693 §3
FEDERATED = "federated"  # the credential's auth_method: no secret, no keys of its own
MAX_SUBJECT = 255
MAX_URL = 512
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class FederatedIdentity:
    """`issuer` exactly as its tokens' `iss`; `subject` as their `sub` (or, without one,
    `client_id`/`azp`); `audience` the `aud` they must carry (None: VaultGuard's issuer or
    its token endpoint)."""

    issuer: str
    subject: str
    audience: str | None = None

    def view(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "subject": self.subject, "audience": self.audience}


def subject_of(claims: Mapping[str, Any]) -> str | None:
    """Who the token is about: `sub` (RFC 7519 §4.1.2; Auth0 M2M tokens say `<client id>@clients`,
    node-oidc-provider's client-credentials tokens the client id), else `client_id` (RFC 9068 /
    RFC 8693 §4.3), else `azp` (OpenID Connect Core §2)."""
    for name in ("sub", "client_id", "azp"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value if len(value) <= MAX_SUBJECT else None
    return None


def url_problem(url: str, *, local: bool) -> str | None:
    """Why `url` cannot be an issuer or a `jwks_uri`: https only, except http to a loopback
    host on the local stage; no user info, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except (ValueError, TypeError):
        return "is not a URL"
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    if not host or parts.username is not None or parts.password is not None:
        return "must name a host (and no user information)"
    if parts.fragment or parts.query:
        return "must have no query or fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and local and host in LOOPBACK_HOSTS:
        return None
    return "must be an https URL" + (" (or http to a loopback host)" if local else "")
