"""A test identity provider: signing keys made here (RSA and Ed25519, with cryptography), the
public key set (JWKS) the service is given, and tokens signed as an issuer would sign them —
or forged, as an attacker would."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ISSUER = "https://id.example.test"
AUDIENCE = "ringfence-test"
NOW_S = 1_700_000_000  # ManualClock's start (2023-11-14T22:13:20Z)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Issuer:
    """Keys by kid; ``rsa-1`` signs by default."""

    rsa_keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    ed_keys: dict[str, ed25519.Ed25519PrivateKey] = field(default_factory=dict)
    now_s: int = NOW_S  # when tokens are issued, unless a token says otherwise

    @classmethod
    def made(cls) -> Issuer:
        issuer = cls()
        issuer.rsa_keys["rsa-1"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issuer.ed_keys["ed-1"] = ed25519.Ed25519PrivateKey.generate()
        return issuer

    def jwks(self) -> dict[str, Any]:
        keys: list[dict[str, Any]] = []
        for kid, key in self.rsa_keys.items():
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**public, "kid": kid, "alg": "RS256", "use": "sig"})
        for kid, ed_key in self.ed_keys.items():
            raw = ed_key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            keys.append({"kty": "OKP", "crv": "Ed25519", "x": _b64(raw), "kid": kid,
                         "alg": "EdDSA", "use": "sig"})  # fmt: skip
        return {"keys": keys}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()))
        return path

    def public_pem(self, kid: str = "rsa-1") -> bytes:
        return (
            self.rsa_keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def token(
        self,
        name: str,
        role: str,
        client: str | None = None,
        *,
        kid: str = "rsa-1",
        lifetime_s: int = 300,
        now_s: int | None = None,
        **claims: Any,
    ) -> str:
        """A token as the issuer signs it; ``claims`` override or add (None removes)."""
        now_s = self.now_s if now_s is None else now_s
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": name,
            "iat": now_s,
            "nbf": now_s,
            "exp": now_s + lifetime_s,
            "ringfence_role": role,
        }
        if client is not None:
            payload["ringfence_client"] = client
        payload.update(claims)
        payload = {key: value for key, value in payload.items() if value is not None}
        if kid in self.ed_keys:
            return jwt.encode(payload, self.ed_keys[kid], "EdDSA", headers={"kid": kid})
        return jwt.encode(payload, self.rsa_keys[kid], "RS256", headers={"kid": kid})


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A token put together by hand: any header (``alg: none``), any payload, any signature."""
    parts = [json.dumps(header).encode(), json.dumps(payload).encode()]
    return ".".join([*(_b64(part) for part in parts), _b64(signature)])


def parts_of(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header + "==")),
        json.loads(base64.urlsafe_b64decode(payload + "==")),
        signature,
    )
