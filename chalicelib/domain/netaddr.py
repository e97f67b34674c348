"""Which network destinations are public: every spelling of an IP address that a resolver
accepts, the address ranges that are never public, and host names that only ever name the
inside (`localhost`, `metadata.google.internal`, single labels).

IPv4 is parsed as inet_aton(3) does (what getaddrinfo uses for numeric hosts): one to four
dot-separated parts, each decimal, octal (leading `0`) or hexadecimal (`0x`), the last part
filling the remaining bytes, so `127.1`, `0x7f000001`, `2130706433` and `0177.0.0.1` are all
127.0.0.1. As in the WHATWG URL standard ("ends in a number"), a host whose last label is
numeric is an address or nothing: it never falls through to a DNS lookup.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address

# Reasons an address is not public, as `non_public_reason` names them.
LOOPBACK = "loopback"
PRIVATE = "private"
UNIQUE_LOCAL = "unique-local"
LINK_LOCAL = "link-local"
METADATA = "metadata"
MULTICAST = "multicast"
UNSPECIFIED = "unspecified"
CARRIER_GRADE_NAT = "carrier-grade NAT"
RESERVED = "reserved"

#: What a developer's own machine may reach (loopback and LAN receivers); never metadata.
LOCAL_REASONS = frozenset({LOOPBACK, PRIVATE, UNIQUE_LOCAL})

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OCI instance metadata
        IPv4Address("169.254.170.2"),  # ECS task metadata
        IPv4Address("100.100.100.200"),  # Alibaba Cloud metadata
        IPv6Address("fd00:ec2::254"),  # AWS instance metadata over IPv6
    }
)

_RFC1918 = (IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16"))
_CGNAT = IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = IPv6Network("fc00::/7")
_SITE_LOCAL = IPv6Network("fec0::/10")
_NAT64 = IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")

_NUMERIC_LABEL = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)\Z")
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\Z")

#: Names (and the zones under them) that never leave the network they are asked in.
INTERNAL_SUFFIXES = (
    "localhost",
    "localdomain",
    "local",  # mDNS
    "internal",  # ICANN private-use TLD; *.ec2.internal, metadata.google.internal
    "intranet",
    "private",
    "corp",
    "home",
    "lan",
    "home.arpa",
)
INTERNAL_NAMES = frozenset({"metadata.goog", "metadata.tencentyun.com", "instance-data"})


def parse_ip(host: str) -> IPAddress | None:
    """The address `host` spells (brackets and an IPv6 zone id allowed), or None for a name.
    ValueError when it looks like an address (a colon, or a numeric last label) but is not."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        return IPv6Address(host.partition("%")[0])  # the zone id only names an interface
    labels = host.rstrip(".").split(".")  # trailing dots: "127.0.0.1." is still an address
    if not _NUMERIC_LABEL.match(labels[-1]):
        return None
    return IPv4Address(_inet_aton(labels))


def _inet_aton(labels: list[str]) -> int:
    if len(labels) > 4:
        raise ValueError("an IPv4 address has at most four parts")
    values = [_part(label) for label in labels]
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise ValueError("an IPv4 address part is out of range")
    number = last
    for n, value in enumerate(head):
        number |= value << (8 * (3 - n))
    return number


def _part(label: str) -> int:
    if label[:2] in ("0x", "0X"):
        digits, base = label[2:], 16
    elif len(label) > 1 and label.startswith("0"):
        digits, base = label[1:], 8
    else:
        digits, base = label, 10
    if not digits or not all(c in "0123456789abcdef"[:base] for c in digits.lower()):
        raise ValueError(f"{label!r} is not a number")
    return int(digits, base)


def non_public_reason(address: IPAddress) -> str | None:
    """Why `address` is not on the public internet (one of the reason constants), or None.
    IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by it."""
    if isinstance(address, IPv6Address):
        address = IPv6Address(int(address))  # drop any zone id
        if address.is_unspecified:
            return UNSPECIFIED
        if address.is_loopback:
            return LOOPBACK
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = _ipv4_reason(embedded)
            if reason is not None:
                return reason
        return _ipv6_reason(address)
    return _ipv4_reason(address)


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if int(address) >> 32 == 0 or address in _NAT64:  # ::a.b.c.d (deprecated) and NAT64
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _ipv4_reason(address: IPv4Address) -> str | None:
    if address in METADATA_ADDRESSES:
        return METADATA
    if address.is_unspecified:
        return UNSPECIFIED
    if address.is_loopback:
        return LOOPBACK
    if address.is_link_local:
        return LINK_LOCAL
    if address.is_multicast:
        return MULTICAST
    if address in _CGNAT:
        return CARRIER_GRADE_NAT
    if any(address in net for net in _RFC1918):
        return PRIVATE
    if not address.is_global or address.is_reserved:
        return RESERVED  # this network, documentation, benchmarking, 240/4, broadcast
    return None


def _ipv6_reason(address: IPv6Address) -> str | None:
    if address in METADATA_ADDRESSES:
        return METADATA
    if address.is_link_local:
        return LINK_LOCAL
    if address.is_multicast:
        return MULTICAST
    if address in _UNIQUE_LOCAL:
        return UNIQUE_LOCAL
    if (
        not address.is_global
        or address.is_reserved
        or address in _SITE_LOCAL
        or address in _NAT64_LOCAL
        or address.ipv4_mapped is not None
    ):
        return RESERVED
    return None


def normalize_name(host: str) -> str:
    """`host` as the ASCII name a resolver is asked for: IDNA (which folds full-width
    letters, digits and dots), lower case. ValueError when it is not a valid host name."""
    try:
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("not a valid host name") from None
    if not _NAME.match(name.rstrip(".")):
        raise ValueError("not a valid host name")
    return name


def internal_name_reason(name: str) -> str | None:
    """Why the host name `name` (ASCII, see `normalize_name`) only names the inside, or None.
    Single labels count: a resolver completes them with its own search domains."""
    name = name.lower().rstrip(".")
    if name in INTERNAL_NAMES:
        return f"{name} is an internal name"
    for suffix in INTERNAL_SUFFIXES:
        if name == suffix or name.endswith("." + suffix):
            return f"names under .{suffix} are internal"
    if "." not in name:
        return "a single-label name is resolved inside the network"
    return None
