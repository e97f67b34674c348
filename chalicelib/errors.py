"""The VaultGuard error hierarchy: one class per case, one JSON shape for all.

Each error carries the OAuth-style `error` code, the HTTP `status_code` and a default
description; `chalicelib.api._http` turns them into responses in one place.
"""

from __future__ import annotations

from typing import Any


class VaultGuardError(Exception):
    error = "server_error"
    status_code = 500
    description = "The server could not complete the request."

    def __init__(
        self,
        description: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.description = description or self.description
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(self.description)

    def body(self, request_id: str) -> dict[str, Any]:
        return {
            "error": self.error,
            "error_description": self.description,
            **self.extra,
            "request_id": request_id,
        }


class InvalidRequest(VaultGuardError):
    error = "invalid_request"
    status_code = 400
    description = "The request is malformed."


class UnsupportedGrantType(InvalidRequest):
    error = "unsupported_grant_type"
    description = "The grant type is not supported."


class InvalidGrant(InvalidRequest):
    error = "invalid_grant"
    description = "The grant is invalid, expired or was already used."


class InvalidClient(VaultGuardError):
    error = "invalid_client"
    status_code = 401
    description = "Client authentication failed."

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description, headers={"WWW-Authenticate": 'Basic realm="vaultguard"'})


class InvalidToken(VaultGuardError):
    error = "invalid_token"
    status_code = 401
    description = "The access token is missing, invalid or expired."

    def __init__(self, description: str | None = None) -> None:
        super().__init__(
            description,
            headers={"WWW-Authenticate": 'Bearer realm="vaultguard", error="invalid_token"'},
        )


class InvalidDPoPProof(InvalidRequest):
    """RFC 9449 §5, §7: a DPoP proof at the token endpoint (or a delegation request) that is
    missing where binding is required, malformed, stale, replayed or for another request."""

    error = "invalid_dpop_proof"
    description = "The DPoP proof is missing or invalid."


class DPoPChallenge(InvalidToken):
    """RFC 9449 §7.1: a DPoP-bound API token refused (`invalid_token`) or its proof
    (`invalid_dpop_proof`), with a `WWW-Authenticate: DPoP` challenge naming the algs."""

    error = "invalid_token"
    status_code = 401
    description = "The DPoP-bound access token or its proof was refused."

    def __init__(self, description: str | None = None, *, error: str = "invalid_token", algs: str) -> None:
        self.error = error
        VaultGuardError.__init__(
            self, description, headers={"WWW-Authenticate": f'DPoP algs="{algs}", error="{error}"'}
        )


class Forbidden(VaultGuardError):
    error = "forbidden"
    status_code = 403
    description = "The caller's role does not allow this operation."


class NotSignedIn(VaultGuardError):
    error = "not_signed_in"
    status_code = 401
    description = "Sign in first."


class ReauthRequired(VaultGuardError):
    """A decision that needs a recent sign-in; `login_url` forces re-authentication."""

    error = "reauth_required"
    status_code = 401
    description = "Sign in again to confirm this decision."

    def __init__(self, login_url: str) -> None:
        super().__init__(extra={"login_url": login_url})


class CsrfFailed(VaultGuardError):
    error = "csrf_failed"
    status_code = 403
    description = "The request lacks a valid X-CSRF-Token header or comes from another origin."


class TenantMismatch(Forbidden):
    error = "tenant_mismatch"
    description = "The request names a tenant other than the caller's own."


class AccessDenied(VaultGuardError):
    """A delegation decision of BLOCK; identical for every reason a request is refused."""

    error = "access_denied"
    status_code = 403
    description = "The receiving tenant does not allow this delegation."

    def __init__(self) -> None:
        super().__init__(extra={"decision": "BLOCK"})


class NotFound(VaultGuardError):
    error = "not_found"
    status_code = 404
    description = "No such resource."


class Conflict(VaultGuardError):
    error = "conflict"
    status_code = 409
    description = "The resource is not in a state that allows this operation."


class LengthRequired(VaultGuardError):
    error = "length_required"
    status_code = 411
    description = "Send the request body with a Content-Length header."


class PayloadTooLarge(VaultGuardError):
    error = "payload_too_large"
    status_code = 413
    description = "The request body is too large."


class UriTooLong(VaultGuardError):
    error = "uri_too_long"
    status_code = 414
    description = "The request target is too long."


class UnsupportedMediaType(VaultGuardError):
    error = "unsupported_media_type"
    status_code = 415
    description = "The request content type is not supported."


class IdempotencyKeyReused(VaultGuardError):
    error = "idempotency_key_reused"
    status_code = 422
    description = "The Idempotency-Key was already used with a different request."


class RateLimited(VaultGuardError):
    error = "rate_limited"
    status_code = 429
    description = "Too many requests."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


class HeadersTooLarge(VaultGuardError):
    error = "headers_too_large"
    status_code = 431
    description = "The request headers are too large or too many."


class Unimplemented(VaultGuardError):
    """A request method that no resource of the server implements (RFC 9110 §15.6.2)."""

    error = "not_implemented"
    status_code = 501
    description = "The server does not implement this request method."


class ServiceUnavailable(VaultGuardError):
    """We could not check or complete the request (a dependency failed); not the caller's fault."""

    error = "temporarily_unavailable"
    status_code = 503
    description = "The service is temporarily unavailable; retry later."


class SignInUnavailable(ServiceUnavailable):
    error = "sign_in_unavailable"
    description = "Sign-in is not configured on this deployment."


class HttpVersionNotSupported(VaultGuardError):
    error = "http_version_not_supported"
    status_code = 505
    description = "The HTTP version is not supported; use HTTP/1.1."


class AudienceTaken(Conflict):
    """Another tenant holds (or once held) the audience: audiences are unique, forever."""

    error = "audience_taken"
    description = "The audience belongs to another tenant; choose another."


class AlreadyDecided(Conflict):
    error = "already_decided"
    description = "The step-up request was already approved or rejected."


class UnauthorizedClient(InvalidRequest):
    error = "unauthorized_client"
    description = "The client is not allowed to use this grant type."


class AuthorizationPending(InvalidRequest):
    """CIBA Core §11: the approver has not decided yet; poll again after `interval`."""

    error = "authorization_pending"
    description = "The step-up request is still waiting for an approver."


class SlowDown(InvalidRequest):
    """CIBA Core §11: polled sooner than `interval`; the interval grew by 5 seconds."""

    error = "slow_down"
    description = "Polling too fast; wait longer between polls."

    def __init__(self, interval: int) -> None:
        super().__init__(extra={"interval": interval})


class ExpiredToken(InvalidRequest):
    """CIBA Core §11: the auth_req_id expired before it was approved."""

    error = "expired_token"
    description = "The step-up request expired; start a new one."


class AuthorizationDenied(InvalidRequest):
    """CIBA Core §11 `access_denied`: the approver rejected the request (a 400 at the token
    endpoint, unlike a BLOCK decision)."""

    error = "access_denied"
    description = "The approver rejected the step-up request."
