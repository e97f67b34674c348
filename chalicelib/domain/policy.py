"""Receiving-side policy resolution: the most specific matching rule wins, no match is BLOCK.

Specificity: a rule naming the requesting tenant beats a rule for any tenant; within that, an
exact action beats a longer `prefix.*`, which beats a shorter one.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.principal import KEY_BASED_AMR

ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*(\.\*)?$")
MAX_ACTION_LENGTH = 128
ANY_REQUESTER = "*"


class Effect(StrEnum):
    ALLOW = "ALLOW"
    STEP_UP = "STEP_UP"
    BLOCK = "BLOCK"


def is_valid_action_pattern(action: str) -> bool:
    """A policy action: `stock.write` or a wildcard `stock.*`."""
    return len(action) <= MAX_ACTION_LENGTH and ACTION_PATTERN.fullmatch(action) is not None


def is_valid_action(action: str) -> bool:
    """A requested action: concrete, never a wildcard."""
    return is_valid_action_pattern(action) and not action.endswith(".*")


@dataclass(frozen=True)
class Policy:
    action: str
    effect: Effect
    requesting_tenant_id: str | None
    ttl_seconds: int
    stepup_expiry_seconds: int
    require_dpop: bool = False  # the delegation must be bound to the agent's key (RFC 9449)
    # only agents that authenticated with keys (private_key_jwt, or a federated identity),
    # never with a client secret; any other agent's request is answered as a BLOCK
    require_private_key_jwt: bool = False

    @property
    def policy_id(self) -> str:
        return policy_id_for(self.action, self.requesting_tenant_id)


def admits(policy: Policy, auth_method: str | None) -> bool:
    """Whether an agent that authenticated by `auth_method` (the API token's `amr`; None when
    unknown) may get a delegation under `policy`: an unknown method counts as a secret."""
    return not policy.require_private_key_jwt or auth_method in KEY_BASED_AMR


def policy_id_for(action: str, requesting_tenant_id: str | None) -> str:
    """A stable id: the same (action, requester) pair always names the same policy."""
    raw = f"{action}|{requesting_tenant_id or ANY_REQUESTER}".encode()
    return "pol_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_policy_id(policy_id: str) -> tuple[str, str | None] | None:
    """The (action, requester) a policy id names, or None for anything malformed."""
    if not policy_id.startswith("pol_") or len(policy_id) > 400:
        return None
    body = policy_id[4:]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    action, sep, requester = raw.partition("|")
    if not sep or not is_valid_action_pattern(action) or not requester:
        return None
    if policy_id_for(action, None if requester == ANY_REQUESTER else requester) != policy_id:
        return None
    return action, (None if requester == ANY_REQUESTER else requester)


def candidate_patterns(action: str) -> list[str]:
    """Every policy action that can match `action`, most specific first.

    `stock.item.write` -> [`stock.item.write`, `stock.item.*`, `stock.*`].
    """
    parts = action.split(".")
    return [action] + [".".join(parts[:i]) + ".*" for i in range(len(parts) - 1, 0, -1)]


def _matches(pattern: str, action: str) -> bool:
    if pattern.endswith(".*"):
        return action.startswith(pattern[:-1])
    return pattern == action


def _specificity(policy: Policy) -> tuple[int, int, int]:
    exact_requester = 1 if policy.requesting_tenant_id is not None else 0
    exact_action = 0 if policy.action.endswith(".*") else 1
    return (exact_requester, exact_action, len(policy.action))


def resolve(policies: Iterable[Policy], requesting_tenant_id: str, action: str) -> Policy | None:
    """The winning policy for this requester and action, or None (which means BLOCK)."""
    matching = [
        p
        for p in policies
        if p.requesting_tenant_id in (None, requesting_tenant_id) and _matches(p.action, action)
    ]
    if not matching:
        return None
    return max(matching, key=_specificity)
