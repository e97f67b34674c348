"""The vault's refresh rules, pure: when a cached access token may still be served, which
cache slot a scope set uses, the refresh lease's timings, the backoff after transient
provider failures, and when the idle-refresh job is due for a connection.

Cache slots: the main slot holds the token of the whole grant (what a plain refresh, RFC 6749
§6 without `scope`, returns); any other scope set (one that leaves out part of the grant,
identity scopes such as `openid` or `offline_access` included) gets a down-scoped token (a
refresh with `scope`) in a slot of its own, keyed by the sorted scope set, so that repeated
down-scoped exchanges are served from the cache too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

FRESH_MARGIN_SECONDS = 300  # serve a cached token only while it has more than this left
LEASE_SECONDS = 30  # a refresh lease's lifetime: longer than a provider call may take
WAIT_SECONDS = 10.0  # how long a process that lost the lease waits for the winner's token
DEFAULT_TOKEN_SECONDS = 3600  # a token answer without `expires_in` (RFC 6749 §5.1: recommended)
MAX_SCOPED_SLOTS = 8  # down-scoped tokens kept per connection (the oldest give way)
BACKOFF_BASE_SECONDS = 2
MAX_BACKOFF_SECONDS = 300
IDLE_REFRESH_SECONDS = 7 * 86400  # a connection not refreshed for a week is refreshed by the job
REFRESH_BUCKET_PREFIX = "vault-refresh#"
MAIN_SLOT = "*"
# Scopes that say who the person is or that a refresh token is wanted (OpenID Connect Core
# §5.4, §11): not API scopes. An exchange never adds them to a token: the default scope set
# of an exchange leaves them out, and a grant that holds them is served down-scoped.
IDENTITY_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})


def api_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes of a set that reach an API (identity scopes left out), in order."""
    return tuple(s for s in dict.fromkeys(scopes) if s not in IDENTITY_SCOPES)


def slot_for(requested: Iterable[str], granted: Iterable[str], *, can_down_scope: bool = True) -> str:
    """The cache slot of a scope set: MAIN_SLOT when the whole grant's token carries exactly
    these scopes or the provider cannot narrow a token, else the sorted, space-joined set (a
    down-scoped token, so that a token never carries more than was asked)."""
    wanted = set(requested)
    if not can_down_scope or set(granted) == wanted:
        return MAIN_SLOT
    return " ".join(sorted(wanted))


def is_fresh(
    expires_at: float | None, now: float, lifetime: float | None = None, margin: float = FRESH_MARGIN_SECONDS
) -> bool:
    """Whether a cached token may be served: more than `margin` left, or, for a token that
    lives less than twice the margin (`lifetime`, a provider with short-lived tokens), more
    than half its life left, so that what one refresh got serves the requests that follow
    instead of each refreshing again (the SDK's rule for its own tokens, too)."""
    if expires_at is None:
        return False
    if lifetime is not None and 0 < lifetime < 2 * margin:
        margin = lifetime / 2
    return expires_at - now > margin


def expires_at(now: int, expires_in: int | None) -> int:
    return now + (expires_in if expires_in and expires_in > 0 else DEFAULT_TOKEN_SECONDS)


def backoff_seconds(failures: int, hinted: int | None) -> int:
    """Seconds before the next refresh attempt after `failures` transient failures in a row:
    the provider's Retry-After when it gave one, else exponential from 2 s, capped at 5 min."""
    if hinted is not None:
        return max(1, min(hinted, MAX_BACKOFF_SECONDS * 12))
    return min(MAX_BACKOFF_SECONDS, BACKOFF_BASE_SECONDS ** max(1, failures))


def wait_delays(total: float = WAIT_SECONDS) -> Iterator[float]:
    """The pauses of a process waiting for another's refresh: 50 ms doubling to 1 s, until
    `total` seconds have been spent."""
    spent, delay = 0.0, 0.05
    while spent < total:
        step = min(delay, total - spent)
        yield step
        spent += step
        delay = min(delay * 2, 1.0)


def refresh_bucket(epoch: int) -> str:
    """The idle-refresh job's bucket for a due time: one per UTC day."""
    return REFRESH_BUCKET_PREFIX + datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d")


def refresh_buckets(now: int, lookback_days: int) -> list[str]:
    """The buckets from `lookback_days` ago to today, oldest first (missed runs catch up)."""
    day = 86400
    return [refresh_bucket(now - d * day) for d in range(lookback_days, -1, -1)]
