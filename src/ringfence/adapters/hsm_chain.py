"""A secp256k1 key on a hardware security module for chain transactions (adapters/hsm.py has
the session, the key URI and the errors it shares with the journal signer): digests signed with
CKM_ECDSA, returned low-S (BIP 62, EIP-2) as (r, s), DER, or with an Ethereum recovery id."""

from __future__ import annotations

import coincurve
from pkcs11 import KeyType, Mechanism

from ringfence.adapters.hsm import (
    HsmError,
    HsmToken,
    KeyLocation,
    TokenKey,
    octet_string,
    secp256k1_curve,
    secp256k1_order,
)


class HsmChainSigner(TokenKey):
    """A secp256k1 key pair on a PKCS#11 token, for chain transactions: it signs 32-byte
    digests that the caller computed (a BIP 143 sighash, a Keccak-256 transaction hash) and
    returns low-S signatures; the private key never leaves the token."""

    key_type = KeyType.EC
    curve = secp256k1_curve
    mechanism = Mechanism.EC_KEY_PAIR_GEN

    def __init__(
        self, location: KeyLocation, pin: str | None = None, token: HsmToken | None = None
    ) -> None:
        super().__init__(location, pin, token)
        self._public: coincurve.PublicKey | None = None

    def public_key(self, compressed: bool = True) -> bytes | None:
        """The SEC 1 public key (33 bytes compressed, 65 not), or None if none is made."""
        key = self._public_key()
        return None if key is None else key.format(compressed=compressed)

    def create(self) -> bytes:
        """Make the key pair; return its compressed public key."""
        point = self.generate()
        if point is None:
            raise HsmError("hsm_key_exists", self.location.uri())
        self._public = coincurve.PublicKey(octet_string(point, 65))
        return self._public.format(compressed=True)

    def sign_digest(self, digest: bytes) -> tuple[int, int]:
        """The ECDSA signature (r, s) of the 32-byte ``digest``, with s in the lower half of
        the curve order (the one form Bitcoin relays and Ethereum accepts)."""
        assert len(digest) == 32
        signature = self.signature(digest, Mechanism.ECDSA)
        if signature is None:
            raise HsmError("hsm_key_not_found", self.location.uri())
        if len(signature) != 64:
            raise HsmError("hsm_refused", f"an ECDSA signature of {len(signature)} bytes")
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        assert 0 < r < secp256k1_order
        assert 0 < s < secp256k1_order
        if s > secp256k1_order // 2:
            s = secp256k1_order - s
        assert s <= secp256k1_order // 2
        return r, s

    def sign_recoverable(self, digest: bytes) -> bytes:
        """r || s || v (65 bytes, v 0 or 1): the low-S signature with the recovery id that
        Ethereum transactions carry, found by recovering the public key."""
        r, s = self.sign_digest(digest)
        key = self._public_key()
        assert key is not None  # sign_digest found the private key
        compact = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        for recovery_id in (0, 1):
            candidate = compact + bytes([recovery_id])
            recovered = coincurve.PublicKey.from_signature_and_message(
                candidate, digest, hasher=None
            )
            if recovered.format() == key.format():
                return candidate
        raise HsmError("hsm_refused", "the token's signature recovers to another key")

    def _public_key(self) -> coincurve.PublicKey | None:
        if self._public is None:
            point = self.public_point()
            if point is None:
                return None
            self._public = coincurve.PublicKey(octet_string(point, 65))
        return self._public


def der_signature(r: int, s: int) -> bytes:
    """(r, s) as a DER ``ECDSA-Sig-Value`` (SEC 1), the form Bitcoin scripts carry."""

    def integer(value: int) -> bytes:
        body = value.to_bytes((value.bit_length() + 8) // 8, "big")  # a leading 0 if needed
        return bytes([0x02, len(body)]) + body

    content = integer(r) + integer(s)
    assert len(content) < 128
    return bytes([0x30, len(content)]) + content
