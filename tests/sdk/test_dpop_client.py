"""VaultGuardClient(dpop=True): the API token is requested with a proof, every API call sends
`Authorization: DPoP` with a fresh proof carrying `ath`, and a `use_dpop_nonce` answer is
retried once with the server's nonce."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import requests
from vaultguard import DPoPKey, VaultGuardClient

from tests.sdk._tokens import token


def _claims(proof: str) -> dict[str, Any]:
    segment = proof.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


class FakeSession(requests.Session):
    def __init__(self, api_token: str) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict[str, str]]] = []
        self.api_token = api_token
        self.asked_nonce = False

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        headers = dict(kwargs.get("headers") or {})
        self.sent.append((method, url, headers))
        response = requests.Response()
        response.headers["Content-Type"] = "application/json"
        if url.endswith("/oauth/token"):
            body: Any = {"access_token": self.api_token, "token_type": "DPoP", "expires_in": 900}
            response.status_code = 200
        elif not self.asked_nonce:
            self.asked_nonce = True
            response.status_code = 401
            response.headers["DPoP-Nonce"] = "server-nonce-1"
            body = {"error": "use_dpop_nonce", "error_description": "Use the nonce."}
        else:
            response.status_code = 200
            body = {"delegations": [], "next_cursor": None}
        response._content = json.dumps(body).encode()
        return response


def test_dpop_client_binds_its_token_and_proves_every_call() -> None:
    key = DPoPKey()
    api_token = token()
    session = FakeSession(api_token)
    client = VaultGuardClient("https://vg.example", "cid", "secret", dpop=key, session=session)
    assert client.dpop_key is key
    client.list_delegations()
    (m1, u1, h1), (m2, u2, h2), (m3, u3, h3) = session.sent
    assert u1 == "https://vg.example/oauth/token" and "ath" not in _claims(h1["DPoP"])
    assert h2["Authorization"] == f"DPoP {api_token}"
    ath = base64.urlsafe_b64encode(hashlib.sha256(api_token.encode()).digest()).rstrip(b"=").decode()
    first, retry = _claims(h2["DPoP"]), _claims(h3["DPoP"])
    assert first["ath"] == ath and first["htm"] == "GET" and first["htu"] == "https://vg.example/delegations"
    assert "nonce" not in first and retry["nonce"] == "server-nonce-1"
    assert first["jti"] != retry["jti"]
