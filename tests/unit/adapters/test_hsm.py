"""The parts of the PKCS#11 adapter that need no token: reading a key URI (RFC 7512) and
encoding an ECDSA signature in DER. The signers themselves are tested against SoftHSM2 in
tests/integration/test_hsm_signer.py."""

from __future__ import annotations

import pytest
from asn1crypto.algos import DSASignature
from hypothesis import given
from hypothesis import strategies as st

from ringfence.adapters.hsm import (
    HsmError,
    KeyLocation,
    default_module_path,
    hsm_reasons,
    parse_key_uri,
    secp256k1_order,
)
from ringfence.adapters.hsm_chain import der_signature
from ringfence.core.errors import InputError, Result, StorageError


def test_a_uri_names_a_token_and_a_key() -> None:
    assert parse_key_uri("pkcs11:token=vault;object=journal") == KeyLocation(
        default_module_path, "vault", "journal"
    )
    assert parse_key_uri("pkcs11:object=journal;type=private;token=vault", "/hsm.so") == (
        KeyLocation("/hsm.so", "vault", "journal")
    )


def test_values_are_percent_decoded_and_the_module_may_be_named() -> None:
    location = parse_key_uri(
        "pkcs11:token=Firm%20HSM;object=journal%3B2026?module-path=/opt/hsm/lib%20p11.so"
    )
    assert location == KeyLocation("/opt/hsm/lib p11.so", "Firm HSM", "journal;2026")
    # And the URI it prints reads back as the same key.
    assert parse_key_uri(location.uri(), location.module_path) == location


labels = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16)


@given(labels, labels)
def test_any_labels_survive_the_uri(token: str, key: str) -> None:
    location = KeyLocation("/hsm.so", token, key)
    assert parse_key_uri(location.uri(), "/hsm.so") == location


@pytest.mark.parametrize(
    "spec",
    [
        "pkcs11:token=vault;object=journal;pin-value=1234",
        "pkcs11:token=vault;object=journal?pin-value=1234",
        "pkcs11:token=vault;object=journal?pin-source=file:/etc/pin",
    ],
)
def test_a_pin_in_the_uri_is_refused(spec: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_key_uri(spec)
    assert refused.value.code is Result.journal_key_invalid
    assert "RINGFENCE_HSM_PIN" in refused.value.detail
    assert "1234" not in str(refused.value)


@pytest.mark.parametrize(
    "spec",
    [
        "journal.key",
        "pkcs11:",
        "pkcs11:token=vault",
        "pkcs11:object=journal",
        "pkcs11:token=;object=journal",
        "pkcs11:token=vault;object=journal;type=public",
        "pkcs11:token=vault;object=journal;serial=42",
        "pkcs11:token=vault;token=other;object=journal",
        "pkcs11:token=vault;object",
        "pkcs11:token=vault;object=journal?module=/x.so",
        "pkcs11:token=vault;object=" + "k" * 65,
        "pkcs11:token=%ff;object=journal",
    ],
)
def test_anything_else_in_the_uri_is_refused(spec: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_key_uri(spec)
    assert refused.value.code is Result.journal_key_invalid


def test_a_device_failure_is_a_storage_error_with_a_named_reason() -> None:
    error = HsmError("hsm_pin_incorrect", "token vault")
    assert isinstance(error, StorageError)
    assert str(error) == "hsm_pin_incorrect: token vault"
    assert all(reason.startswith("hsm_") for reason in hsm_reasons)
    with pytest.raises(AssertionError):
        HsmError("pin_wrong", "not one of the named reasons")


scalars = st.integers(min_value=1, max_value=secp256k1_order - 1)


@given(scalars, scalars)
def test_der_signatures_match_an_independent_encoder(r: int, s: int) -> None:
    encoded = der_signature(r, s)
    assert encoded == DSASignature({"r": r, "s": s}).dump()
    assert DSASignature.load(encoded).native == {"r": r, "s": s}


@pytest.mark.parametrize("r", [1, 0x7F, 0x80, 0xFF, 0x100, secp256k1_order - 1])
def test_der_integers_are_minimal_and_positive(r: int) -> None:
    assert der_signature(r, 1) == DSASignature({"r": r, "s": 1}).dump()
