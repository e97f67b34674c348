"""The physical bounds, measured in-process on this machine:

(a) raw RSA-2048 PKCS#1 v1.5 SHA-256 signing with `cryptography` (what every issuance pays once),
(b) raw `jwt.decode(..., algorithms=["RS256"], audience=..., issuer=...)` with PyJWT (what every
    verification pays once), plus raw RSA verification beneath it for reference,
(e) VaultGuard's own `TokenVerifier.verify` (header checks, kid lookup, signature, claim checks),
    and the SDK's `DelegationVerifier.verify` (the receiving side's offline check, JWKS cached,
    receiving tenant pinned).

`python -m bench.crypto_bench` compares both verifiers with raw `jwt.decode` on its own:
repetitions interleaved (raw, server, SDK, raw, ...) so that a noisy neighbour slows all
three alike, medians over repetitions, and each verifier's ratio to raw PyJWT.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # `python bench/crypto_bench.py` as well as `python -m bench.crypto_bench`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench._timing import Repetition, run_loop, summarise
from chalicelib.domain.delegation import DELEGATION_TOKEN_TYP, TokenGrant
from chalicelib.services.verification import DELEGATION_CLAIMS
from chalicelib.tokens import KeySet, LocalKeySigner, TokenVerifier, encode_jwt

ISSUER = "http://127.0.0.1:8000"
RECEIVING_TENANT_ID = "tnt_bbbbbbbbbbbbbbbbbbbb"
AUDIENCE = f"urn:vaultguard:tenant:{RECEIVING_TENANT_ID}"


@dataclass
class Material:
    key: rsa.RSAPrivateKey
    signer: LocalKeySigner
    token: str
    signing_input: bytes


def make_material() -> Material:
    """One RSA-2048 key and a delegation token exactly as the service mints it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = LocalKeySigner(key)
    now = int(time.time())
    grant = TokenGrant(
        delegation_id="dlg_0197a1b2c3d4" + "e5f60718293a4b5c6d7e8f90a1b2c3d4",
        issuer=ISSUER,
        audience=AUDIENCE,
        agent_id="agt_11111111111111111111",
        client_id="vgc_222222222222222222222222",
        requesting_tenant_id="tnt_aaaaaaaaaaaaaaaaaaaa",
        receiving_tenant_id=RECEIVING_TENANT_ID,
        action="stock.write",
        issued_at=now,
        expires_at=now + 3600,
    )
    token = encode_jwt(signer, grant.claims(), typ=DELEGATION_TOKEN_TYP)
    signing_input = token.rsplit(".", 1)[0].encode("ascii")
    return Material(key, signer, token, signing_input)


def _reps(op: Any, repeats: int, seconds: float, max_ops: int) -> list[Repetition]:
    for _ in range(min(200, max_ops)):  # warm-up: caches, branch predictors, lazy imports
        op()
    return [run_loop(op, max_ops=max_ops, max_seconds=seconds, min_ops=20) for _ in range(repeats)]


def bench_raw_sign(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    key, data, pad, alg = m.key, m.signing_input, padding.PKCS1v15(), hashes.SHA256()
    return summarise(_reps(lambda: key.sign(data, pad, alg), repeats, seconds, max_ops))


def bench_raw_rsa_verify(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    public = m.key.public_key()
    signature = m.key.sign(m.signing_input, padding.PKCS1v15(), hashes.SHA256())
    data, pad, alg = m.signing_input, padding.PKCS1v15(), hashes.SHA256()
    return summarise(_reps(lambda: public.verify(signature, data, pad, alg), repeats, seconds, max_ops))


def raw_pyjwt_op(m: Material) -> Callable[[], Any]:
    public, token = m.key.public_key(), m.token
    # PyJWT accepts the key object directly (no PEM parsing per call, as the service does).
    jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    return lambda: jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)


def token_verifier_op(m: Material) -> Callable[[], Any]:
    """The server's verifier, built once (as the container does) over our own KeySet."""
    verifier = TokenVerifier(KeySet(m.signer), ISSUER)
    token = m.token

    def op() -> dict[str, Any]:
        return verifier.verify(
            token, typ=DELEGATION_TOKEN_TYP, audience=AUDIENCE, required_claims=DELEGATION_CLAIMS
        )

    assert op()["scope"] == "stock.write"
    return op


def sdk_verifier_op(m: Material) -> Callable[[], Any]:
    """The SDK's receiving-side verifier, pinned to the receiving tenant; its JWKS is served
    from memory and cached after the first call, as it is in a running API."""
    from vaultguard import DelegationVerifier, JWKSCache

    document = KeySet(m.signer).document()
    cache = JWKSCache(f"{ISSUER}/.well-known/jwks.json", fetch=lambda url: document)
    verifier = DelegationVerifier(ISSUER, AUDIENCE, jwks=cache, receiving_tenant_id=RECEIVING_TENANT_ID)
    token = m.token
    assert verifier.verify(token, action="stock.write").scope == "stock.write"
    assert cache.fetch_count == 1
    return lambda: verifier.verify(token, action="stock.write")


def bench_raw_pyjwt_decode(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    return summarise(_reps(raw_pyjwt_op(m), repeats, seconds, max_ops))


def bench_verifier(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    return summarise(_reps(token_verifier_op(m), repeats, seconds, max_ops))


def bench_sdk_verifier(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    return summarise(_reps(sdk_verifier_op(m), repeats, seconds, max_ops))


VERIFIERS: dict[str, Callable[[Material], Callable[[], Any]]] = {
    "raw jwt.decode": raw_pyjwt_op,
    "TokenVerifier": token_verifier_op,
    "DelegationVerifier": sdk_verifier_op,
}


def compare_verifiers(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    """Both verifiers beside raw `jwt.decode`, repetitions interleaved; each verifier's ratio
    to raw PyJWT as the median of per-round ratios and as the ratio of median ops/s."""
    ops = {name: make(m) for name, make in VERIFIERS.items()}
    for op in ops.values():  # warm-up: caches, branch predictors, lazy imports
        for _ in range(min(200, max_ops)):
            op()
    reps: dict[str, list[Repetition]] = {name: [] for name in ops}
    for _ in range(repeats):
        for name, op in ops.items():
            reps[name].append(run_loop(op, max_ops=max_ops, max_seconds=seconds, min_ops=20))
    raw = reps["raw jwt.decode"]
    out: dict[str, Any] = {"summaries": {name: summarise(r) for name, r in reps.items()}, "ratios": {}}
    for name in ops:
        if name == "raw jwt.decode":
            continue
        per_round = [v.ops_per_s / r.ops_per_s for v, r in zip(reps[name], raw, strict=True)]
        out["ratios"][name] = {
            "median_of_round_ratios": statistics.median(per_round),
            "ratio_of_median_ops": out["summaries"][name]["ops_per_s"]
            / out["summaries"]["raw jwt.decode"]["ops_per_s"],
            "per_round": per_round,
        }
    return out


def bench_encode_jwt(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    """VaultGuard's own `encode_jwt` (claims -> canonical JSON -> sign -> compact JWS)."""
    signer, claims = m.signer, jwt.decode(m.token, options={"verify_signature": False})
    return summarise(
        _reps(lambda: encode_jwt(signer, claims, typ=DELEGATION_TOKEN_TYP), repeats, seconds, max_ops)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crypto_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--seconds", type=float, default=1.0, help="time cap of one repetition")
    parser.add_argument("--max-ops", type=int, default=50_000, help="count cap of one repetition")
    args = parser.parse_args(argv)
    result = compare_verifiers(make_material(), args.repeats, args.seconds, args.max_ops)
    print(f"RS256 delegation token verification, {args.repeats} interleaved rounds (medians):")
    print(f"  {'':<20} {'ops/s':>9} {'p50':>9} {'p95':>9}  ratio to raw jwt.decode")
    for name, s in result["summaries"].items():
        ratio = result["ratios"].get(name)
        note = ""
        if ratio:
            note = (f"{ratio['median_of_round_ratios']:.2f}x (rounds "
                    f"{min(ratio['per_round']):.2f}-{max(ratio['per_round']):.2f}x)")
        print(f"  {name:<20} {s['ops_per_s']:>9,.0f} {s['p50_us']:>7.1f}µs {s['p95_us']:>7.1f}µs  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
