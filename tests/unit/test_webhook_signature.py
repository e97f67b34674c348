"""The webhook signature (`t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`) and URL rules."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.domain.webhooks import (
    check_url,
    event_body,
    new_secret,
    redact_url,
    sign,
    verify_signature,
)

SECRET = "whsec_test-secret"
BODY = b'{"id":"evt_1","type":"stepup.pending"}'
NOW = 1_760_000_000


def independent_mac(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_the_header_is_stripe_style_and_matches_an_independent_hmac() -> None:
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={independent_mac(SECRET, NOW, BODY)}"


def test_a_genuine_signature_verifies_within_the_tolerance() -> None:
    header = sign(SECRET, BODY, NOW)
    assert verify_signature(SECRET, header, BODY, now=NOW)
    assert verify_signature(SECRET, header, BODY.decode(), now=NOW + 300)
    assert verify_signature(SECRET, header, BODY, now=NOW - 300)
    assert verify_signature(SECRET, sign(SECRET, BODY), BODY)  # the real clock


@pytest.mark.parametrize(
    ("secret", "body", "now", "tolerance"),
    [
        ("whsec_other", BODY, NOW, 300),
        (SECRET, BODY + b" ", NOW, 300),
        (SECRET, BODY.replace(b"pending", b"approved"), NOW, 300),
        (SECRET, BODY, NOW + 301, 300),  # replayed too late
        (SECRET, BODY, NOW - 301, 300),  # from the future
        (SECRET, BODY, NOW + 11, 10),
        ("", BODY, NOW, 300),
    ],
)
def test_anything_else_is_refused(secret: str, body: bytes, now: int, tolerance: int) -> None:
    assert not verify_signature(secret, sign(SECRET, BODY, NOW), body, tolerance, now=now)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        f"v1={independent_mac(SECRET, NOW, BODY)}",  # no timestamp
        f"t={NOW}",  # no signature
        f"t={NOW},t={NOW},v1={independent_mac(SECRET, NOW, BODY)}",  # two timestamps
        f"t=-{NOW},v1={independent_mac(SECRET, NOW, BODY)}",
        f"t={NOW}.5,v1={independent_mac(SECRET, NOW, BODY)}",
        f"t={NOW},v1",  # no '='
        f"t={NOW},v0={independent_mac(SECRET, NOW, BODY)}",  # unknown scheme only
        f"t={NOW},v1={independent_mac(SECRET, NOW, BODY).upper()}",
        f"t={NOW},v1={'0' * 64}",
        f"t={NOW},v1={independent_mac(SECRET, NOW, BODY)}," + "x=" * 3000,  # oversized
    ],
)
def test_malformed_headers_are_refused(header: str | None) -> None:
    assert not verify_signature(SECRET, header, BODY, now=NOW)


def test_any_of_several_v1_values_may_match_and_unknown_schemes_are_ignored() -> None:
    good = independent_mac(SECRET, NOW, BODY)
    header = f"t={NOW}, v0=abc, v1={'f' * 64}, v1={good}"
    assert verify_signature(SECRET, header, BODY, now=NOW)


def test_secrets_are_prefixed_random_and_distinct() -> None:
    made = {new_secret() for _ in range(50)}
    assert len(made) == 50
    assert all(s.startswith("whsec_") and len(s) == 6 + 43 for s in made)


def test_the_event_body_is_compact_json_with_the_agreed_fields() -> None:
    body = event_body("evt_1", "stepup.pending", "2026-01-01T00:00:00.000000Z", {"action": "a.b", "n": "é"})
    assert (
        body
        == (
            '{"id":"evt_1","type":"stepup.pending","created_at":"2026-01-01T00:00:00.000000Z",'
            '"data":{"action":"a.b","n":"é"}}'
        ).encode()
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "https://hooks.example/vg?x=1",
        "https://hooks.example:8443/vg",
        "HTTPS://Hooks.Example/vg",
        "https://[2001:db8::1]/vg",
    ],
)
def test_good_urls_outside_prod(url: str) -> None:
    assert check_url(url, require_https=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example/",
        "https://localhost/",
        "https://api.localhost/",
        "https://127.0.0.1/",
        "https://10.1.2.3/",
        "https://192.168.0.1/",
        "https://169.254.169.254/latest/",
        "https://[::1]/",
        "https://[fd00::1]/",
        # every spelling of an inward address that the resolver accepts
        "https://127.1/",
        "https://127.0.1/",
        "https://0x7f000001/",
        "https://0X7F.0.0.1/",
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://0/",
        "https://0.0.0.0/",
        "https://127.0.0.1./",
        "https://0251.0376.0251.0376/latest/",
        "https://0xa9fea9fe/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:7f00:1]/",
        "https://[::127.0.0.1]/",
        "https://[0:0:0:0:0:0:0:1]/",
        "https://[fe80::1%25eth0]/",
        "https://[fd00:ec2::254]/",
        "https://100.64.0.1/",
        "https://224.0.0.1/",
        "https://１２７．０．０．１/",
        # numeric-looking hosts that are not addresses never go to DNS
        "https://1.2.3.4.5/",
        "https://08.0.0.1/",
        "https://256.256.256.256/",
        # internal names
        "https://localhost./",
        "https://LOCALHOST/",
        "https://ｌｏｃａｌｈｏｓｔ/",
        "https://a.b.localhost/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://metadata.google.internal./",
        "https://instance-data.ec2.internal/",
        "https://metadata/",
        "https://printer.local/",
        "https://hooks..example/",
    ],
)
def test_prod_refuses_plain_http_and_internal_hosts(url: str) -> None:
    with pytest.raises(ValueError):
        check_url(url, require_https=True)


def test_prod_accepts_public_https() -> None:
    assert check_url("https://hooks.example/vg", require_https=True)
    assert check_url("https://8.8.8.8/vg", require_https=True)
    assert check_url("https://hooks.example.:8443/vg", require_https=True)
    assert check_url("https://[2001:4860:4860::8888]/vg", require_https=True)
    assert check_url("https://localhost.example.org/vg", require_https=True)


def test_prod_says_why_a_host_is_refused() -> None:
    with pytest.raises(ValueError, match="127.0.0.1 is a loopback address"):
        check_url("https://0x7f000001/", require_https=True)
    with pytest.raises(ValueError, match="internal"):
        check_url("https://metadata.google.internal/", require_https=True)


@pytest.mark.parametrize("url", ["http://127.1:8080/hook", "http://localhost:8080/hook", "http://[::1]:9/h"])
def test_outside_prod_local_receivers_stay_allowed(url: str) -> None:
    assert check_url(url, require_https=False) == url


def test_redaction_drops_credentials_query_and_fragment() -> None:
    assert redact_url("https://user:pw@Hooks.Example:8443/a/b?token=x#f") == "https://hooks.example:8443/a/b"
    assert redact_url("http://[2001:db8::1]:9/h") == "http://[2001:db8::1]:9/h"
