"""CIBA poll-mode rules (OpenID CIBA Core 1.0 §7.3, §10, §11), as pure functions.

The agent polls with its auth_req_id; the answer depends on the delegation's effective
status, on whether the approved token was already handed out, and on how soon after the
previous poll it came (polling faster than `interval` is `slow_down`, and the interval then
grows by 5 seconds for that request, as RFC 8628 §3.5 does for the device flow).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.delegation import MIN_STEPUP_EXPIRY_SECONDS, Status

GRANT_TYPE = "urn:openid:params:grant-type:ciba"
SLOW_DOWN_INCREMENT = 5
MAX_BINDING_MESSAGE = 128


class PollAnswer(StrEnum):
    PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED = "expired_token"
    DENIED = "access_denied"
    DELIVER = "deliver"
    ALREADY_DELIVERED = "invalid_grant"


@dataclass(frozen=True)
class PollDecision:
    answer: PollAnswer
    interval: int


def decide_poll(
    status: Status, *, now: int, last_polled_at: int | None, interval: int, delivered: bool
) -> PollDecision:
    """What one poll gets. `status` is the effective status (expiry already applied)."""
    if status is Status.ACTIVE:
        answer = PollAnswer.ALREADY_DELIVERED if delivered else PollAnswer.DELIVER
        return PollDecision(answer, interval)
    if status in (Status.REJECTED, Status.REVOKED):
        return PollDecision(PollAnswer.DENIED, interval)
    if status is Status.EXPIRED:
        return PollDecision(PollAnswer.EXPIRED, interval)
    if last_polled_at is not None and now - last_polled_at < interval:
        return PollDecision(PollAnswer.SLOW_DOWN, interval + SLOW_DOWN_INCREMENT)
    return PollDecision(PollAnswer.PENDING, interval)


MAX_REQUESTED_EXPIRY = 10**9  # larger is not a plausible number of seconds: a 400


def stepup_expiry(requested: int | None, policy_expiry: int) -> int:
    """The step-up's lifetime: `requested_expiry` clamped to the allowed range, at least
    `MIN_STEPUP_EXPIRY_SECONDS` and at most the policy's `stepup_expiry_seconds`. CIBA Core
    §7.1 makes `requested_expiry` a hint: the server chooses `expires_in`, so a value outside
    the range is clamped, not refused."""
    if requested is None:
        return policy_expiry
    return max(min(MIN_STEPUP_EXPIRY_SECONDS, policy_expiry), min(requested, policy_expiry))


def is_valid_binding_message(message: str) -> bool:
    """Short and printable, so an approver sees exactly what the agent's user saw (§7.1)."""
    return 1 <= len(message) <= MAX_BINDING_MESSAGE and message.isprintable()
