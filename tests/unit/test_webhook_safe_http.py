"""PinnedPoster without DNS: stub resolvers decide what a name resolves to, a stub dialler
records the address actually connected to (and reaches a local server instead), and a
test CA stands in for the web PKI to show that TLS still checks the URL's host name."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chalicelib.services.safe_http import PinnedPoster, UnsafeDestination

PUBLIC = "8.8.8.8"
PUBLIC_2 = "1.1.1.1"


# -- stubs -----------------------------------------------------------------------------------


class StubResolver:
    """getaddrinfo-shaped: the n-th call answers the n-th list (the last one from then on)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int, *args: Any) -> list[tuple[Any, ...]]:
        self.calls.append((host, port))
        found = self.answers[min(len(self.calls), len(self.answers)) - 1]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in found
        ]


@dataclass
class StubDial:
    """Records each address dialled and connects to `local_port` on 127.0.0.1 instead;
    addresses in `refuse` fail as a closed port would."""

    local_port: int
    refuse: set[str] = field(default_factory=set)
    dialled: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, address: tuple[str, int], timeout: float | None = None) -> socket.socket:
        self.dialled.append(address)
        if address[0] in self.refuse:
            raise ConnectionRefusedError(111, "Connection refused")
        return socket.create_connection(("127.0.0.1", self.local_port), timeout)


class Server:
    """An HTTP(S) receiver on 127.0.0.1 that records Host headers and TLS server names."""

    def __init__(self, tls: ssl.SSLContext | None = None, status: int = 204, location: str = "") -> None:
        self.hosts: list[str] = []
        self.server_names: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.hosts.append(self.headers["Host"])
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def post(poster: PinnedPoster, url: str) -> requests.Response:
    return poster(url, data=b'{"n":1}', headers={"Content-Type": "application/json"}, timeout=3)


# -- refused before anything is sent ---------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        ["10.0.0.1"],
        ["127.0.0.1"],
        [PUBLIC, "10.0.0.1"],
        ["192.168.1.10", PUBLIC],
        ["::ffff:127.0.0.1"],
        ["::1"],
        ["169.254.169.254"],
        ["fd00:ec2::254"],
        ["fe80::1%eth0"],
        ["fd12::1"],
        ["100.64.0.1"],
        ["0.0.0.0"],
        ["::"],
        ["224.0.0.1"],
        ["240.0.0.1"],
        [PUBLIC, "2002:7f00:1::"],
    ],
)
def test_a_name_resolving_to_any_non_public_address_is_refused(answer: list[str]) -> None:
    resolver, dial = StubResolver(answer), StubDial(0)
    with pytest.raises(UnsafeDestination, match="resolves to a"):
        post(PinnedPoster(resolver=resolver, dial=dial), "https://hooks.example/vg")
    assert resolver.calls == [("hooks.example", 443)]
    assert dial.dialled == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.1/",
        "https://0x7f000001/",
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://0/",
        "https://127.0.0.1./",
        "https://0xa9fea9fe/latest/meta-data/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::1]:8443/",
        "https://[fe80::1%25eth0]/",
        "https://1.2.3.4.5/",
        "https://localhost/",
        "https://localhost./",
        "https://api.localhost/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://metadata/",
    ],
)
def test_addresses_and_internal_names_are_refused_without_asking_the_resolver(url: str) -> None:
    resolver, dial = StubResolver([PUBLIC]), StubDial(0)
    with pytest.raises(UnsafeDestination):
        post(PinnedPoster(resolver=resolver, dial=dial), url)
    assert resolver.calls == [] and dial.dialled == []


def test_a_name_that_does_not_resolve_is_a_connection_error_to_retry() -> None:
    def failing(*args: Any) -> Any:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(requests.ConnectionError) as caught:
        post(PinnedPoster(resolver=failing), "https://hooks.example/vg")
    assert not isinstance(caught.value, UnsafeDestination)
    with pytest.raises(requests.ConnectionError):
        post(PinnedPoster(resolver=StubResolver([])), "https://hooks.example/vg")


# -- the connection goes to the checked address ----------------------------------------------


def test_the_checked_address_is_the_one_dialled_and_the_name_is_the_host(server: Server) -> None:
    resolver, dial = StubResolver([PUBLIC]), StubDial(server.port)
    response = post(PinnedPoster(resolver=resolver, dial=dial), f"http://hooks.example:{server.port}/vg")
    assert response.status_code == 204
    assert dial.dialled == [(PUBLIC, server.port)]
    assert server.hosts == [f"hooks.example:{server.port}"]


def test_a_rebinding_resolver_cannot_move_the_connection_inward(server: Server) -> None:
    """Public on the first answer, loopback on every later one: the check and the connect
    use the one answer, so the loopback address is never dialled."""
    resolver, dial = StubResolver([PUBLIC], ["127.0.0.1"]), StubDial(server.port)
    poster = PinnedPoster(resolver=resolver, dial=dial)
    url = f"http://rebind.example:{server.port}/vg"

    assert post(poster, url).status_code == 204
    assert len(resolver.calls) == 1
    assert dial.dialled == [(PUBLIC, server.port)]

    with pytest.raises(UnsafeDestination, match="loopback"):
        post(poster, url)  # the next attempt resolves again and is refused before dialling
    assert len(resolver.calls) == 2
    assert dial.dialled == [(PUBLIC, server.port)]
    assert len(server.hosts) == 1


def test_every_checked_address_is_tried_in_order(server: Server) -> None:
    resolver = StubResolver([PUBLIC, "2001:4860:4860::8888", PUBLIC_2])
    dial = StubDial(server.port, refuse={PUBLIC, "2001:4860:4860::8888"})
    assert (
        post(PinnedPoster(resolver=resolver, dial=dial), f"http://hooks.example:{server.port}/").status_code
        == 204
    )
    assert [a for a, _ in dial.dialled] == [PUBLIC, "2001:4860:4860::8888", PUBLIC_2]

    dial = StubDial(server.port, refuse={PUBLIC, "2001:4860:4860::8888", PUBLIC_2})
    with pytest.raises(requests.ConnectionError):
        post(PinnedPoster(resolver=resolver, dial=dial), f"http://hooks.example:{server.port}/")


def test_redirects_are_returned_not_followed() -> None:
    target = Server()
    redirecting = Server(status=302, location=f"http://127.0.0.1:{target.port}/inside")
    try:
        poster = PinnedPoster(resolver=StubResolver([PUBLIC]), dial=StubDial(redirecting.port))
        response = poster(
            f"http://hooks.example:{redirecting.port}/vg",
            data=b"{}",
            headers={},
            timeout=3,
            allow_redirects=True,  # ignored
        )
        assert response.status_code == 302
        assert len(redirecting.hosts) == 1 and target.hosts == []
    finally:
        target.close()
        redirecting.close()


def test_proxies_from_the_environment_are_not_used(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    dial = StubDial(server.port)
    poster = PinnedPoster(resolver=StubResolver([PUBLIC]), dial=dial)
    assert post(poster, f"http://hooks.example:{server.port}/").status_code == 204
    assert dial.dialled == [(PUBLIC, server.port)]


# -- the local stage ---------------------------------------------------------------------------


def test_the_local_stage_reaches_loopback_receivers(server: Server) -> None:
    poster = PinnedPoster(allow_private=True)  # the real resolver: a literal needs no DNS
    assert post(poster, f"http://127.0.0.1:{server.port}/vg").status_code == 204
    assert post(poster, f"http://127.1:{server.port}/vg").status_code == 204
    resolver = StubResolver(["127.0.0.1"])
    named = PinnedPoster(allow_private=True, resolver=resolver)
    assert post(named, f"http://receiver.test:{server.port}/vg").status_code == 204
    assert server.hosts[-1] == f"receiver.test:{server.port}"


@pytest.mark.parametrize("answer", ["169.254.169.254", "fd00:ec2::254", "169.254.10.1", "224.0.0.1"])
def test_the_local_stage_still_refuses_metadata_and_link_local(answer: str) -> None:
    with pytest.raises(UnsafeDestination):
        post(PinnedPoster(allow_private=True, resolver=StubResolver([answer])), "http://hooks.example/")


# -- TLS: SNI and the certificate are for the name, not the address ---------------------------


@dataclass(frozen=True)
class Pki:
    ca_file: str
    chains: dict[str, tuple[str, str]]  # host name -> (cert file, key file)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder: Path = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("VaultGuard test CA"))
        .issuer_name(_name("VaultGuard test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    chains = {}
    for host in ("hooks.example", "other.example"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_file, key_file = folder / f"{host}.pem", folder / f"{host}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        chains[host] = (str(cert_file), str(key_file))
    return Pki(str(ca_file), chains)


def tls_server(pki: Pki, host: str) -> Server:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki.chains[host])
    return Server(tls=context)


def test_https_to_the_pinned_address_sends_sni_and_verifies_the_name(pki: Pki) -> None:
    server = tls_server(pki, "hooks.example")
    try:
        dial = StubDial(server.port)
        poster = PinnedPoster(resolver=StubResolver([PUBLIC]), dial=dial, ca_bundle=pki.ca_file)
        assert post(poster, f"https://hooks.example:{server.port}/vg").status_code == 204
        assert dial.dialled == [(PUBLIC, server.port)]
        assert server.server_names == ["hooks.example"]
        assert server.hosts == [f"hooks.example:{server.port}"]
    finally:
        server.close()


def test_a_certificate_for_another_name_is_refused(pki: Pki) -> None:
    server = tls_server(pki, "other.example")
    try:
        poster = PinnedPoster(
            resolver=StubResolver([PUBLIC]), dial=StubDial(server.port), ca_bundle=pki.ca_file
        )
        with pytest.raises(requests.exceptions.SSLError, match="other.example"):
            post(poster, f"https://hooks.example:{server.port}/vg")
        assert server.hosts == []
    finally:
        server.close()


def test_certificates_are_verified_by_default(pki: Pki) -> None:
    server = tls_server(pki, "hooks.example")  # signed by the test CA, which certifi does not know
    try:
        poster = PinnedPoster(resolver=StubResolver([PUBLIC]), dial=StubDial(server.port))
        with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
            post(poster, f"https://hooks.example:{server.port}/vg")
        assert server.hosts == []
    finally:
        server.close()
