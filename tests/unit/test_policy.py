"""Unit tests for chalicelib.domain.policy: precedence, patterns, validation, policy ids.

docs/architecture.md: "The most specific rule wins (an exact requester over any; an exact
action over a longer prefix over a shorter one); no match is BLOCK." The effect never takes
part in the ranking.
"""

from __future__ import annotations

import base64
import itertools
import random
from collections.abc import Iterable

import pytest

from chalicelib.domain.policy import (
    ANY_REQUESTER,
    MAX_ACTION_LENGTH,
    Effect,
    Policy,
    candidate_patterns,
    is_valid_action,
    is_valid_action_pattern,
    parse_policy_id,
    policy_id_for,
    resolve,
)

try:  # optional: the property tests below are skipped without it
    from hypothesis import given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_HYPOTHESIS = False

ME = "tnt_aaaaaaaaaaaaaaaaaaaa"
OTHER = "tnt_bbbbbbbbbbbbbbbbbbbb"
THIRD = "tnt_cccccccccccccccccccc"


def pol(action: str, effect: Effect = Effect.ALLOW, requester: str | None = None, ttl: int = 3600) -> Policy:
    return Policy(action, effect, requester, ttl, 300)


def winner(policies: Iterable[Policy], action: str, requester: str = ME) -> tuple[str, str | None] | None:
    """The (action, requester) of the winning rule, both orders of the input agreeing."""
    items = list(policies)
    forward = resolve(items, requester, action)
    backward = resolve(list(reversed(items)), requester, action)
    assert forward == backward, "the result must not depend on the order the store returns"
    return None if forward is None else (forward.action, forward.requesting_tenant_id)


# -- resolve: requester precedence ------------------------------------------------------------


def test_requester_specific_wildcard_beats_any_requester_exact_action() -> None:
    policies = [pol("stock.write", Effect.ALLOW), pol("stock.*", Effect.BLOCK, ME)]
    assert winner(policies, "stock.write") == ("stock.*", ME)
    assert resolve(policies, ME, "stock.write").effect is Effect.BLOCK  # type: ignore[union-attr]


def test_requester_specific_short_prefix_beats_any_requester_longer_prefix() -> None:
    policies = [pol("a.b.*", Effect.BLOCK), pol("a.b.c", Effect.BLOCK), pol("a.*", Effect.ALLOW, ME)]
    assert winner(policies, "a.b.c") == ("a.*", ME)


def test_requester_specific_beats_any_requester_for_the_same_action() -> None:
    policies = [pol("stock.write", Effect.BLOCK), pol("stock.write", Effect.STEP_UP, ME)]
    found = resolve(policies, ME, "stock.write")
    assert found is not None and found.requesting_tenant_id == ME and found.effect is Effect.STEP_UP


def test_any_requester_rule_applies_when_no_specific_rule_matches() -> None:
    policies = [pol("stock.write", Effect.ALLOW), pol("billing.*", Effect.BLOCK, ME)]
    assert winner(policies, "stock.write") == ("stock.write", None)


def test_rules_for_other_requesters_never_match() -> None:
    policies = [pol("stock.write", Effect.ALLOW, OTHER), pol("stock.*", Effect.ALLOW, THIRD)]
    assert resolve(policies, ME, "stock.write") is None


def test_other_requester_exact_rule_loses_to_any_requester_wildcard() -> None:
    policies = [pol("stock.write", Effect.ALLOW, OTHER), pol("stock.*", Effect.BLOCK)]
    assert winner(policies, "stock.write") == ("stock.*", None)


def test_any_requester_marker_is_not_a_tenant() -> None:
    """A caller whose tenant id were literally "*" must not pick up rules for other tenants."""
    policies = [pol("stock.write", Effect.ALLOW, OTHER)]
    assert resolve(policies, ANY_REQUESTER, "stock.write") is None


# -- resolve: action precedence -----------------------------------------------------------------


@pytest.mark.parametrize("requester", [ME, None], ids=["specific", "any"])
def test_exact_beats_longer_prefix_beats_shorter_prefix(requester: str | None) -> None:
    exact, longer, shorter = pol("a.b.c", requester=requester), pol("a.b.*", requester=requester), pol(
        "a.*", requester=requester
    )
    assert winner([shorter, longer, exact], "a.b.c") == ("a.b.c", requester)
    assert winner([shorter, longer], "a.b.c") == ("a.b.*", requester)
    assert winner([shorter], "a.b.c") == ("a.*", requester)


def test_longest_prefix_among_many() -> None:
    policies = [pol("a.*"), pol("a.b.*"), pol("a.b.c.*"), pol("a.b.c.d.*"), pol("a.x.*"), pol("a.b.x.*")]
    assert winner(policies, "a.b.c.d.e") == ("a.b.c.d.*", None)
    assert winner(policies, "a.b.c.z") == ("a.b.c.*", None)
    assert winner(policies, "a.b.z") == ("a.b.*", None)
    assert winner(policies, "a.q") == ("a.*", None)


def test_exact_rule_for_a_different_action_does_not_match() -> None:
    policies = [pol("a.b.c.d"), pol("a.b.cd"), pol("a.b")]
    assert resolve(policies, ME, "a.b.c") is None


@pytest.mark.parametrize(
    ("action", "matches"),
    [
        ("stock.write", True),
        ("stock.x.y", True),
        ("stock.a.b.c.d", True),
        ("stock", False),
        ("stockx.write", False),
        ("stockx", False),
        ("xstock.write", False),
        ("stoc.write", False),
        ("other.stock.write", False),
    ],
)
def test_wildcard_matching(action: str, matches: bool) -> None:
    found = resolve([pol("stock.*")], ME, action)
    assert (found is not None) is matches


def test_nested_wildcard_does_not_match_its_own_stem() -> None:
    assert resolve([pol("a.b.*")], ME, "a.b") is None
    assert resolve([pol("a.b.*")], ME, "a.bc") is None
    assert resolve([pol("a.b.*")], ME, "a.b.c") is not None


def test_no_policies_or_no_match_is_none() -> None:
    assert resolve([], ME, "stock.write") is None
    assert resolve(iter(()), ME, "stock.write") is None
    assert resolve([pol("billing.read"), pol("billing.*", requester=ME)], ME, "stock.write") is None


def test_accepts_a_one_shot_iterator() -> None:
    found = resolve(iter([pol("stock.*"), pol("stock.write")]), ME, "stock.write")
    assert found is not None and found.action == "stock.write"


# -- resolve: the effect plays no part -----------------------------------------------------------


@pytest.mark.parametrize(
    ("specific", "general"),
    [(a, b) for a, b in itertools.product(Effect, Effect) if a is not b],
    ids=lambda e: e.value,
)
def test_effect_is_irrelevant_to_precedence(specific: Effect, general: Effect) -> None:
    pairs = [
        (pol("stock.write", specific), pol("stock.*", general)),  # exact over prefix
        (pol("a.b.*", specific), pol("a.*", general)),  # longer over shorter prefix
        (pol("stock.*", specific, ME), pol("stock.write", general)),  # requester over action
    ]
    for more, less in pairs:
        action = "a.b.c" if more.action.startswith("a.") else "stock.write"
        for order in ([more, less], [less, more]):
            found = resolve(order, ME, action)
            assert found == more, (more, less)


def test_winner_keeps_its_own_ttl_and_effect() -> None:
    specific = pol("stock.write", Effect.STEP_UP, ME, ttl=120)
    found = resolve([pol("stock.write", Effect.ALLOW, ttl=7200), specific], ME, "stock.write")
    assert found is specific


# -- reference model ------------------------------------------------------------------------------


def reference_resolve(policies: list[Policy], requester: str, action: str) -> Policy | None:
    """docs/architecture.md read literally: walk the tiers from most to least specific, first hit wins.

    Written without the implementation's helpers: tiers are (requester, pattern) with the
    requester's own rules first, and patterns exact, then `prefix.*` from longest to shortest.
    """
    segments = action.split(".")
    patterns = [action] + [".".join(segments[:n]) + ".*" for n in range(len(segments) - 1, 0, -1)]
    by_key = {(p.requesting_tenant_id, p.action): p for p in policies}
    for who in (requester, None):
        for pattern in patterns:
            if (who, pattern) in by_key:
                return by_key[(who, pattern)]
    return None


ACTIONS = [
    "a",
    "b",
    "a.b",
    "a.c",
    "ab.c",
    "a.b.c",
    "a.b.cd",
    "a.bc.d",
    "a.b.c.d",
    "b.a.c",
]
PATTERNS = ACTIONS + ["a.*", "b.*", "ab.*", "a.b.*", "a.bc.*", "a.b.c.*", "b.a.*"]
REQUESTERS: list[str | None] = [ME, OTHER, None]


def test_reference_model_agrees_on_random_policy_sets() -> None:
    """Deterministic, dependency-free cross-check over a small universe (seeded)."""
    rng = random.Random(20240611)
    universe = [(r, p) for r in REQUESTERS for p in PATTERNS]
    for _ in range(3000):
        keys = rng.sample(universe, rng.randint(0, 8))
        policies = [pol(p, rng.choice(list(Effect)), r) for r, p in keys]
        rng.shuffle(policies)
        for action in ACTIONS:
            assert resolve(policies, ME, action) == reference_resolve(policies, ME, action), (
                action,
                policies,
            )


def test_candidate_patterns_cover_exactly_the_matching_patterns() -> None:
    """The store fetches only candidate_patterns(action): nothing resolve() could pick may be
    missing from it, and nothing in it may fail to match."""
    for action, pattern in itertools.product(ACTIONS, PATTERNS):
        matches = resolve([pol(pattern)], ME, action) is not None
        assert (pattern in candidate_patterns(action)) is matches, (action, pattern)


if HAVE_HYPOTHESIS:
    segment = st.text(alphabet="abc_-1", min_size=1, max_size=3)
    first_segment = st.sampled_from("abc").flatmap(lambda c: st.text("abc", max_size=2).map(lambda s: c + s))
    actions = st.builds(
        lambda first, rest: ".".join([first, *rest]), first_segment, st.lists(segment, max_size=4)
    )

    @st.composite
    def policy_sets(draw: st.DrawFn) -> tuple[list[Policy], str]:
        action = draw(actions)
        parts = action.split(".")
        # Bias towards patterns that relate to the action, plus unrelated noise.
        related = [action] + [".".join(parts[:n]) + ".*" for n in range(1, len(parts))]
        noise = draw(st.lists(actions, max_size=3))
        pattern_pool = related + noise + [n + ".*" for n in noise]
        keys = draw(
            st.lists(
                st.tuples(st.sampled_from(REQUESTERS), st.sampled_from(pattern_pool)),
                max_size=10,
                unique=True,
            )
        )
        policies = [pol(p, draw(st.sampled_from(list(Effect))), r) for r, p in keys]
        return policies, action

    @settings(max_examples=250, deadline=None)
    @given(policy_sets())
    def test_resolve_equals_reference_ranking(case: tuple[list[Policy], str]) -> None:
        policies, action = case
        assert resolve(policies, ME, action) == reference_resolve(policies, ME, action)
        assert resolve(list(reversed(policies)), ME, action) == reference_resolve(policies, ME, action)

    @settings(max_examples=200, deadline=None)
    @given(actions, actions)
    def test_candidate_patterns_property(action: str, other: str) -> None:
        for pattern in (other, other + ".*"):
            matches = resolve([pol(pattern)], ME, action) is not None
            assert (pattern in candidate_patterns(action)) is matches

else:  # pragma: no cover

    @pytest.mark.skip(reason="hypothesis is not installed")
    def test_resolve_equals_reference_ranking() -> None:
        pass


# -- candidate_patterns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("stock", ["stock"]),
        ("stock.write", ["stock.write", "stock.*"]),
        ("stock.item.write", ["stock.item.write", "stock.item.*", "stock.*"]),
        ("a.b.c.d", ["a.b.c.d", "a.b.c.*", "a.b.*", "a.*"]),
    ],
)
def test_candidate_patterns(action: str, expected: list[str]) -> None:
    assert candidate_patterns(action) == expected


def test_candidate_patterns_are_valid_and_most_specific_first() -> None:
    action = "x1.y_2.z-3.w"
    patterns = candidate_patterns(action)
    assert all(is_valid_action_pattern(p) for p in patterns)
    assert patterns[0] == action
    prefixes = [p[:-2] for p in patterns[1:]]
    assert [len(p) for p in prefixes] == sorted((len(p) for p in prefixes), reverse=True)
    assert len(set(patterns)) == len(patterns)


# -- action validation ---------------------------------------------------------------------------

VALID_CONCRETE = [
    "stock",
    "stock.write",
    "stock.item.write",
    "a",
    "a1",
    "a_b-c",
    "stock.1",
    "stock._x",
    "stock.-",
    "a.b.c.d.e.f",
    "s3.put_object",
]
INVALID_ANY = [
    "",
    "*",
    ".*",
    "Stock.write",
    "stock.Write",
    "1stock",
    "_stock",
    "-stock",
    ".stock",
    "stock.",
    "stock..write",
    "stock.*.write",
    "stock.**",
    "stock*",
    "stock.wr*",
    "stock.*.*",
    "stock write",
    "stock/write",
    "stock:write",
    "stöck.write",
    "stock.write\n",
    "\nstock.write",
    " stock.write",
    "stock.write ",
    "stock|write",
    "stock.write\x00",
]


@pytest.mark.parametrize("action", VALID_CONCRETE)
def test_valid_concrete_actions(action: str) -> None:
    assert is_valid_action(action)
    assert is_valid_action_pattern(action)


@pytest.mark.parametrize("action", ["stock.*", "a.*", "a.b_c.d-e.*", "stock.1.*"])
def test_wildcards_are_valid_patterns_but_not_requestable(action: str) -> None:
    assert is_valid_action_pattern(action)
    assert not is_valid_action(action)


@pytest.mark.parametrize("action", INVALID_ANY)
def test_invalid_actions(action: str) -> None:
    assert not is_valid_action_pattern(action)
    assert not is_valid_action(action)


def test_length_limit() -> None:
    exact = ("a" * (MAX_ACTION_LENGTH - 2)) + ".b"
    assert len(exact) == MAX_ACTION_LENGTH
    assert is_valid_action(exact)
    assert not is_valid_action(exact + "c")
    assert not is_valid_action_pattern(exact + "c")
    wildcard = ("a" * (MAX_ACTION_LENGTH - 2)) + ".*"
    assert is_valid_action_pattern(wildcard)
    assert not is_valid_action_pattern("a" + wildcard)
    assert not is_valid_action("a" * 10_000)


# -- policy ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize("requester", [None, ME, "tnt_with|pipe"])
@pytest.mark.parametrize("action", ["stock.write", "stock.*", "a", "a.b_c-d.*", "x" * MAX_ACTION_LENGTH])
def test_policy_id_round_trip(action: str, requester: str | None) -> None:
    policy_id = policy_id_for(action, requester)
    assert policy_id.startswith("pol_")
    assert "=" not in policy_id and "+" not in policy_id and "/" not in policy_id
    assert parse_policy_id(policy_id) == (action, requester)
    assert Policy(action, Effect.BLOCK, requester, 60, 30).policy_id == policy_id


def test_policy_id_is_stable_and_distinct() -> None:
    assert policy_id_for("stock.write", ME) == policy_id_for("stock.write", ME)
    ids = {
        policy_id_for(action, requester)
        for action in ("stock.write", "stock.*", "stock.read")
        for requester in (None, ME, OTHER)
    }
    assert len(ids) == 9


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _standard_alphabet_id() -> str:
    """An id spelled with `+` and `/` instead of `-` and `_`: the same bytes, not canonical."""
    raw = b"stock.write|tnt_>>>???"
    assert parse_policy_id("pol_" + _b64(raw)) == ("stock.write", "tnt_>>>???")
    standard = base64.b64encode(raw).decode().rstrip("=")
    assert "+" in standard or "/" in standard
    return "pol_" + standard


def _tampered_ids() -> list[tuple[str, str]]:
    good = policy_id_for("stock.write", ME)
    body = good[4:]
    cases = [
        ("empty", ""),
        ("prefix only", "pol_"),
        ("no prefix", body),
        ("wrong prefix", "POL_" + body),
        ("other prefix", "dlg_" + body),
        ("padded", good + "=" * (-len(body) % 4 or 4)),
        ("standard alphabet", _standard_alphabet_id()),
        ("not base64", "pol_!!!!"),
        ("whitespace", good + " "),
        ("newline", good + "\n"),
        ("inner whitespace", good[:8] + " " + good[8:]),
        ("truncated", good[:-3]),
        ("not utf-8", "pol_" + _b64(b"\xff\xfe|*")),
        ("no separator", "pol_" + _b64(b"stock.write")),
        ("empty requester", "pol_" + _b64(b"stock.write|")),
        ("empty action", "pol_" + _b64(b"|" + ME.encode())),
        ("invalid action", "pol_" + _b64(b"Stock.Write|*")),
        ("wildcard only", "pol_" + _b64(b"*|*")),
        ("too long", "pol_" + _b64(("a" * 300 + "|*").encode())),
    ]
    # A changed last character that decodes to the same bytes (non-canonical padding bits).
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if len(body) % 4:
        for ch in alphabet:
            candidate = good[:-1] + ch
            if candidate == good:
                continue
            raw_a = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            raw_b = base64.urlsafe_b64decode(candidate[4:] + "=" * (-len(body) % 4))
            if raw_a == raw_b:
                cases.append(("non-canonical " + ch, candidate))
                break
    return cases


@pytest.mark.parametrize(("case", "policy_id"), _tampered_ids(), ids=[c for c, _ in _tampered_ids()])
def test_parse_policy_id_rejects_malformed(case: str, policy_id: str) -> None:
    assert parse_policy_id(policy_id) is None


def test_parse_policy_id_tampered_characters_never_yield_a_different_valid_id() -> None:
    """Flipping any one character either breaks the id or names another (action, requester)
    pair whose canonical id is exactly the tampered string: never an alias of a policy."""
    good = policy_id_for("stock.write", ME)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/!."
    for i in range(4, len(good)):
        for ch in alphabet:
            tampered = good[:i] + ch + good[i + 1 :]
            if tampered == good:
                continue
            parsed = parse_policy_id(tampered)
            if parsed is not None:
                assert parsed != ("stock.write", ME)
                assert policy_id_for(*parsed) == tampered


def test_parse_policy_id_length_limit() -> None:
    # The longest legitimate id (max action, a long requester) is well within the limit.
    longest = policy_id_for("a" * MAX_ACTION_LENGTH, "tnt_" + "f" * 20)
    assert len(longest) < 400
    assert parse_policy_id(longest) is not None
    assert parse_policy_id("pol_" + "A" * 10_000) is None
