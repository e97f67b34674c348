"""When the vault serves a cached provider token (chalicelib/domain/vault_refresh.py)."""

from __future__ import annotations

import pytest

from chalicelib.domain.vault_refresh import is_fresh

NOW = 1_000_000


@pytest.mark.parametrize(
    ("seconds_left", "lifetime", "fresh"),
    [
        (301, 3600, True),  # Google's hour: served while more than 5 minutes are left
        (300, 3600, False),
        (299, None, False),  # a lifetime not known: the 5-minute margin
        (8, 15, True),  # a 15-second token: served for the first half of its life
        (7, 15, False),
        (0, 15, False),
        (-5, 15, False),
    ],
)
def test_a_token_is_served_while_it_keeps_the_margin_or_half_a_short_life(
    seconds_left: int, lifetime: int | None, fresh: bool
) -> None:
    assert is_fresh(NOW + seconds_left, NOW, lifetime) is fresh


def test_no_expiry_is_never_fresh() -> None:
    assert is_fresh(None, NOW, 3600) is False
