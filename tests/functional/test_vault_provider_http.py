"""The vault's provider HTTP (issue 13): every call goes through the webhooks' SSRF guard
(pinned, checked addresses; loopback only on the local stage), and Google's ID tokens are
accepted with exactly its two spellings of `iss`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.vault.client import Endpoints, OAuthClient, ProviderClient, ProviderRejected
from chalicelib.vault.transport import PinnedProviderTransport, TransportError
from tests.functional import fake_vault_provider as fake


@pytest.fixture
def local_provider() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"issuer": "x"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_loopback_providers_are_reached_only_where_private_addresses_are_allowed(local_provider: str) -> None:
    url = local_provider + "/.well-known/openid-configuration"
    status, body = PinnedProviderTransport(allow_private=True).get(url)
    assert status == 200 and json.loads(body) == {"issuer": "x"}
    with pytest.raises(TransportError):
        PinnedProviderTransport(allow_private=False).get(url)


@pytest.mark.parametrize("allow_private", [False, True])
def test_metadata_and_link_local_addresses_are_refused_in_every_mode(allow_private: bool) -> None:
    transport = PinnedProviderTransport(allow_private=allow_private)
    with pytest.raises(TransportError):
        transport.post("https://169.254.169.254/token", {"grant_type": "refresh_token"}, ("c", "s"))
    with pytest.raises(TransportError):
        transport.get("http://example.com/not-https")


@pytest.mark.parametrize(
    ("iss", "accepted"),
    [
        ("https://accounts.google.com", True),
        ("accounts.google.com", True),
        ("http://accounts.google.com", False),
        ("https://accounts.google.com/", False),
    ],
)
def test_google_id_tokens_carry_either_spelling_of_its_issuer(iss: str, accepted: bool) -> None:
    provider = fake.FakeProvider(id_token_overrides={"iss": iss})
    client = ProviderClient(transport=provider)
    endpoints = Endpoints("", "", issuer="https://accounts.google.com", jwks_uri=fake.ISSUER + "/jwks")
    token = provider._id_token("g-sub", "ada@medicore.example", fake.CLIENT_ID, "n-1")
    oauth_client = OAuthClient(fake.CLIENT_ID, fake.CLIENT_SECRET)
    if accepted:
        assert client.validate_id_token(endpoints, oauth_client, token, nonce="n-1").subject == "g-sub"
    else:
        with pytest.raises(ProviderRejected, match="wrong_issuer"):
            client.validate_id_token(endpoints, oauth_client, token, nonce="n-1")
