"""Every spelling of an address a resolver accepts, and which addresses and names are public."""

from __future__ import annotations

import random
import socket
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from chalicelib.domain import netaddr
from chalicelib.domain.netaddr import internal_name_reason, non_public_reason, normalize_name, parse_ip


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0x0.0x0.0x1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("000000177.0.0.01", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("10.1", "10.0.0.1"),
        ("167772161", "10.0.0.1"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("8.8.8.8", "8.8.8.8"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("::127.0.0.1", "::7f00:1"),
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%25eth0", "fe80::1"),
        ("[fd00:ec2::254]", "fd00:ec2::254"),
    ],
)
def test_every_spelling_parses_to_the_address_a_resolver_would_use(host: str, expected: str) -> None:
    assert parse_ip(host) == ip_address(expected)


@pytest.mark.parametrize("host", ["hooks.example", "example.com.", "1.2.3.example", "0x7f.example", "a1"])
def test_names_are_not_addresses(host: str) -> None:
    assert parse_ip(host) is None


@pytest.mark.parametrize(
    "host",
    ["1.2.3.4.5", "256.1.1.1", "1.256.1", "4294967296", "08.1.1.1", "0x", "0xg.1", "1..1", "::1::2", "[::g]"],
)
def test_what_looks_like_an_address_but_is_not_is_an_error_not_a_name(host: str) -> None:
    with pytest.raises(ValueError):
        parse_ip(host)


def test_agrees_with_inet_aton_on_everything_it_accepts() -> None:
    """getaddrinfo takes a numeric host through inet_aton: every string the C library
    accepts must parse here to the same address (so that it is judged as that address)."""
    rng = random.Random(8)
    alphabet = "0123456789xXabcdefg."
    accepted = 0
    for _ in range(30_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        try:
            packed = socket.inet_aton(text)
        except OSError:
            continue
        accepted += 1
        assert parse_ip(text) == IPv4Address(packed), text
    assert accepted > 1000


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", netaddr.LOOPBACK),
        ("127.255.255.254", netaddr.LOOPBACK),
        ("0.0.0.0", netaddr.UNSPECIFIED),
        ("10.0.0.1", netaddr.PRIVATE),
        ("172.16.5.4", netaddr.PRIVATE),
        ("192.168.1.1", netaddr.PRIVATE),
        ("169.254.169.254", netaddr.METADATA),
        ("169.254.170.2", netaddr.METADATA),
        ("169.254.1.1", netaddr.LINK_LOCAL),
        ("100.64.0.1", netaddr.CARRIER_GRADE_NAT),
        ("100.100.100.200", netaddr.METADATA),
        ("224.0.0.1", netaddr.MULTICAST),
        ("239.255.255.250", netaddr.MULTICAST),
        ("255.255.255.255", netaddr.RESERVED),
        ("240.0.0.1", netaddr.RESERVED),
        ("0.1.2.3", netaddr.RESERVED),
        ("192.0.2.1", netaddr.RESERVED),
        ("198.18.0.1", netaddr.RESERVED),
        ("::1", netaddr.LOOPBACK),
        ("::", netaddr.UNSPECIFIED),
        ("::ffff:127.0.0.1", netaddr.LOOPBACK),
        ("::ffff:10.0.0.1", netaddr.PRIVATE),
        ("::ffff:169.254.169.254", netaddr.METADATA),
        ("::127.0.0.1", netaddr.LOOPBACK),
        ("64:ff9b::a00:1", netaddr.PRIVATE),
        ("2002:7f00:1::", netaddr.LOOPBACK),
        ("fd00:ec2::254", netaddr.METADATA),
        ("fd12:3456::1", netaddr.UNIQUE_LOCAL),
        ("fe80::1", netaddr.LINK_LOCAL),
        ("fec0::1", netaddr.RESERVED),
        ("ff02::1", netaddr.MULTICAST),
        ("2001:db8::1", netaddr.RESERVED),
        ("::ffff:8.8.8.8", netaddr.RESERVED),
        ("64:ff9b:1::1", netaddr.RESERVED),
        ("64:ff9b::808:808", netaddr.RESERVED),  # NAT64 is never needed to reach a webhook
    ],
)
def test_non_public_addresses_and_why(address: str, reason: str) -> None:
    assert non_public_reason(ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2001:4860:4860::8888", "2002:808:808::"]
)
def test_public_addresses(address: str) -> None:
    assert non_public_reason(ip_address(address)) is None


def test_a_zone_id_does_not_hide_a_link_local_address() -> None:
    assert non_public_reason(IPv6Address("fe80::1%eth0")) == netaddr.LINK_LOCAL


@pytest.mark.parametrize(
    "name",
    [
        "localhost",
        "localhost.",
        "LOCALHOST",
        "api.localhost",
        "localhost.localdomain",
        "metadata.google.internal",
        "metadata.google.internal.",
        "ip-10-0-0-1.ec2.internal",
        "metadata.goog",
        "printer.local",
        "router.home.arpa",
        "metadata",
        "kubernetes",
        "instance-data",
    ],
)
def test_internal_names(name: str) -> None:
    assert internal_name_reason(name)


@pytest.mark.parametrize("name", ["hooks.example", "hooks.example.", "api.stripe.com", "local.example.org"])
def test_public_names(name: str) -> None:
    assert internal_name_reason(name) is None


def test_names_are_normalized_as_a_resolver_would_see_them() -> None:
    assert normalize_name("ｌｏｃａｌｈｏｓｔ") == "localhost"
    assert normalize_name("１２７．０．０．１") == "127.0.0.1"
    assert normalize_name("Hooks.Example") == "hooks.example"
    for bad in ("a..b", "127.0.0.1%2e", "hooks\\.example", "a b"):
        with pytest.raises(ValueError):
            normalize_name(bad)
