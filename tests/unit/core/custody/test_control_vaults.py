"""Proof of control of 2-of-3 P2WSH vaults: BIP-322 full signatures, the published vectors
(bips/bip-0322/basic-test-vectors.json and generated-test-vectors.json: P2WSH multisig, simple
and full), and every way a vault's proof can be short or wrong, refused by name."""

from __future__ import annotations

import base64
import hashlib
from io import BytesIO

import coincurve
import pytest
from embit.script import Script, Witness, address_to_scriptpubkey
from embit.transaction import Transaction, TransactionOutput
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.custody.addresses import Network
from ringfence.core.custody.control import Challenge, ControlProof, verify_control
from ringfence.core.custody.control_bip322 import verify_bip322_multisig
from ringfence.core.custody.control_signing import (
    bip322_full_signature,
    bip322_multisig_digest,
    bip322_to_sign,
)
from ringfence.core.custody.registry import Chain
from ringfence.core.custody.spends import SpendScript
from ringfence.core.errors import Result

ROUND = "3f2a9c0d5e6b7a8190a1b2c3d4e5f60718293a4b5c6d7e8f9011223344556677"
BLOCK = hashlib.sha256(b"block 1000").hexdigest()

# (message, address, signature): P2WSH multisig vectors, the "smp" prefix of the revised text
# removed (it marks the simple form; the signature is what follows it).
VECTORS = [
    (  # basic: 3-of-3, simple
        "This will be a p2wsh 3-of-3 multisig BIP 322 signed message",
        "bc1qp0ahvfh83088w49k405szqgg4f3pptr7p2g06tdxfjcd40z4lh4q95lsz9",
        "BQBHMEQCIFX9aaqPJWq2Ff2kpen5bFDTid+ehgUOpHV0LfjncXy4AiA3GNicF7aKPzdpa9PCpmaYQs3pHd+qbvvhXdx"
        "OCKCAMAFIMEUCIQD/ELXg6CNYyUQijCg96JtgvgjZb9dsl1Ctof4QAeyTcQIgVM/1AAblFl/DCt6A1gJg+T/i2qU5S"
        "QD09+chFJzolRwBSDBFAiEAlqRfSFyWNVQhvaCnmeV5tyneiCWMTcFbuujoD/pFa3wCIGnZjfQb8NolSYq9asV+ZeB"
        "SkCGHJcqnaV4JYS5MYPEGAWlTIQJ1aLEfEi/4p7wcV+XHZCBVvGGJZ7L3v+jhH+mZA8lN0yECCovfec+kIdllXpKCg"
        "A8RX/HZ2x5yHOtCSKP8/sf6pnwhAwxSng6kCgCXXSAmJOOZFdr3vdK3HzGqCFloOHgc5fM6U64=",
    ),
    (  # generated: 2-of-2, simple
        "GDU6AXT64O5ZS4AHHXK5JETYRM",
        "bc1qa8xp82hejuydq8d9yc44s662ras5ncr98gxz3n53s6vklwgrczrqc4fqtn",
        "BABIMEUCIQCLKarc4DfTq5bmqPVjRZ/qBvRPy886P2dM1tDK/92WIgIgN7y495rkp5FPcpjohhl8Knmo9rf63tPLGIV"
        "o8PKE81ABSDBFAiEAz2U1cppenj2Kbg8DkS3wXMmAN4jvZvsP/PdcCI1akogCIFlrCbW2+GbMRkvObV2utVdHYBxIJh"
        "M6DJlv1NIwViXBAUdSIQJx+IVtFfezY//G7PB/9/Z2fWatDxm5+M0195sX3Y1qoyECvDKp35BSlVD2TFqMPy7MlXJrq"
        "Gl3nkQAgo51DfiRIqlSrg==",
    ),
    (  # generated: 2-of-2, full, version 2, lock time and sequence 2016
        "5P7EW4XUVZ6PJX5HY4MW5FK5PB",
        "bc1qfqj9nyjyt48mnu3d5pl98t280l2w0ccpfd2r2mee3fwfxar5sehszuz26t",
        "AgAAAAABAcE9Xti5qyNVQrVVDtYUznEvVIDEbkXUF3n3CQI5bzKRAAAAAADgBwAAAQAAAAAAAAAAAWoEAEcwRAIgSwc"
        "zcWxkT+Tk8wvTdorKXE3Hfemk6mtcKXC2yGSXp2ACIEIa5UwomMwpoPLyowZ/e550yHRPTyIIbYDaYT1kF9szAUgwRQI"
        "hAPpw4wkAFjKT1mvhOSfmHlYFtRgQ87hfbOfjnjJnQ2PuAiA7uR/iEFqgQfLLZIEsRIImvMPP/gMfchFpj4Qx5aRSpQF"
        "HUiED1iNYBtEHilqVRjfuFj7hkUEtAkMkPX7WRMHZ3NGTrUQhArxPc6k2RYEdx2fw2Pd82g7GgeLraJ7meGEFXIxa7Iw"
        "fUq7gBwAA",
    ),
    (  # generated: 3-of-3, full, version 2, lock time and sequence 2016
        "QDZMAZBL27JFGRNCIXL25DXBSH",
        "bc1q9nrqkah76dcr2yvw40wkr2af439ccyl5xay0md3awkkk00zges4qdt3sx7",
        "AgAAAAABAer7c1QlVJDuAbqiJjI4BDfc9mBGcO7bMHZbQkfJkv5xAAAAAADgBwAAAQAAAAAAAAAAAWoFAEcwRAIgSOx"
        "qpGJcIsTlpitk5ZYjL39Oz19Nju75iEIAZJakhxoCIAGdJoVeVRnYtALtXneYlvi+c1cM/g1VB9KuVPAbG2sEAUgwRQI"
        "hANqm0LEFk63YpHgNdhiOxvqrr+CfuTYDiBWd2qSX4eCZAiAEkN5Cei/Nu8hf344x16B07RoLmp5QkanvbWw+RYG0iAF"
        "IMEUCIQDNtva8FSjrEKwDIuRbtWf/1l5sPfPDfjCNiq4qN2b83gIgDUhfk7LFcc300VDuTgS7sapPpq7DeiEfy3bzgz6b"
        "GCoBaVMhAxv7aVMjtYlThA88s4q8tFcoyY5SuiQq5hCXJcSUaYXyIQJr/JHIEQpdLdJFEA8iFMHu9wqLtkEpmGFhDLrS"
        "hlameCECWmK4dVblBueUxUfoJ20abiYpeApWXbNfy3w/lDWja7xTruAHAAA=",
    ),
]
# The to_sign transaction ids of the vectors (for the P2WPKH vector address).
VECTOR_TO_SIGN = {
    "": "1e9654e951a5ba44c8604c4de6c67fd78a27e81dcadcfe1edf638ba3aaebaed6",
    "Hello World": "88737ae86f2077145f93cc4b153ae9a1cb8d56afa511988c149c5c8c9d93bddf",
}


def script_of(address: str) -> bytes:
    data: bytes = address_to_scriptpubkey(address).data
    return data


@pytest.mark.parametrize(("message", "address", "signature"), VECTORS)
def test_published_multisig_vectors_verify(message: str, address: str, signature: str) -> None:
    assert verify_bip322_multisig(script_of(address), message, signature) is Result.ok
    # The published "error" cases: the same signature for another message or address fails.
    wrong_message = verify_bip322_multisig(script_of(address), message + "!", signature)
    assert wrong_message is not Result.ok
    other = VECTORS[(VECTORS.index((message, address, signature)) + 1) % len(VECTORS)][1]
    assert verify_bip322_multisig(script_of(other), message, signature) is not Result.ok


@pytest.mark.parametrize("message", sorted(VECTOR_TO_SIGN))
def test_to_sign_is_the_published_transaction(message: str) -> None:
    script = script_of("bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l")
    assert bip322_to_sign(message, script).txid().hex() == VECTOR_TO_SIGN[message]


# ---------------------------------------------------------------------- a vault of ours

KEYS = [coincurve.PrivateKey(hashlib.sha256(f"vault key {n}".encode()).digest()) for n in range(3)]
VAULT = SpendScript(tuple(key.public_key.format() for key in KEYS), 2)
ADDRESS = VAULT.address(Network.mainnet)
OUTSIDER = coincurve.PrivateKey(hashlib.sha256(b"not a vault key").digest())


def message_for(address: str = ADDRESS) -> str:
    return Challenge(ROUND, Chain.bitcoin, address, BLOCK).message()


def ders(
    signers: list[coincurve.PrivateKey], message: str, script: SpendScript = VAULT
) -> list[bytes]:
    """Each signer's DER signature, in the order of the keys in the witness script."""
    digest = bip322_multisig_digest(message, script.witness_script())
    order = sorted(script.public_keys)
    ordered = sorted(signers, key=lambda k: order.index(k.public_key.format())
                     if k.public_key.format() in order else -1)  # fmt: skip
    return [key.sign(digest, hasher=None) for key in ordered]


def vault_signature(signers: list[coincurve.PrivateKey], message: str | None = None,
                    script: SpendScript = VAULT) -> str:  # fmt: skip
    message = message_for() if message is None else message
    return bip322_full_signature(message, script.witness_script(), ders(signers, message, script))


def verify(signature: str, address: str = ADDRESS) -> Result:
    proof = ControlProof(Chain.bitcoin, address, message_for(address), signature)
    return verify_control(proof, ROUND, [BLOCK])


def with_witness(items: list[bytes], **fields: int) -> str:
    """The default to_sign for the vault's challenge with ``items`` as witness, fields set."""
    to_sign = bip322_to_sign(message_for(), VAULT.script_pubkey())
    to_sign.vin[0].witness = Witness(items)
    for name, value in fields.items():
        if name == "sequence":
            to_sign.vin[0].sequence = value
        else:
            setattr(to_sign, name, value)
    return base64.b64encode(to_sign.serialize()).decode()


def test_two_of_the_three_keys_prove_the_vault() -> None:
    for pair in ([0, 1], [0, 2], [1, 2], [2, 0]):
        assert verify(vault_signature([KEYS[n] for n in pair])) is Result.ok


def test_the_simple_form_is_taken_too() -> None:
    message = message_for()
    items = [b"", *(d + b"\x01" for d in ders(KEYS[:2], message)), VAULT.witness_script()]
    assert verify(base64.b64encode(Witness(items).serialize()).decode()) is Result.ok


def test_one_signature_is_not_enough() -> None:
    message = message_for()
    (one,) = ders(KEYS[:1], message)
    script = VAULT.witness_script()
    short = with_witness([b"", one + b"\x01", script])
    assert verify(short) is Result.control_signatures_insufficient
    empty_second = with_witness([b"", one + b"\x01", b"", script])
    assert verify(empty_second) is Result.control_signatures_insufficient


def test_a_key_not_in_the_vault_is_refused() -> None:
    assert verify(vault_signature([KEYS[0], OUTSIDER])) is Result.control_signer_mismatch


def test_signatures_out_of_the_scripts_key_order_are_refused() -> None:
    message = message_for()
    first, second = ders(KEYS[:2], message)
    swapped = with_witness([b"", second + b"\x01", first + b"\x01", VAULT.witness_script()])
    assert verify(swapped) is Result.control_signer_mismatch


def test_a_proof_for_another_vault_is_refused() -> None:
    other = SpendScript((KEYS[0].public_key.format(), KEYS[1].public_key.format(),
                         OUTSIDER.public_key.format()), 2)  # fmt: skip
    other_address = other.address(Network.mainnet)
    # Valid for the other vault, presented for ours: another script's keys.
    theirs = vault_signature(KEYS[:2], message_for(other_address), other)
    assert verify(theirs, other_address) is Result.ok
    assert verify(theirs) is Result.control_signer_mismatch
    # Our keys over the other vault's challenge, presented for ours with our text.
    assert verify(vault_signature(KEYS[:2], message_for(other_address))) is (
        Result.control_signature_invalid
    )


def test_a_signature_over_other_text_is_refused() -> None:
    assert verify(vault_signature(KEYS[:2], message_for() + " ")) is (
        Result.control_signature_invalid
    )


def test_to_sign_must_be_shaped_as_bip322_sets_it() -> None:
    message = message_for()
    items = [b"", *(d + b"\x01" for d in ders(KEYS[:2], message)), VAULT.witness_script()]
    assert verify(with_witness(items)) is Result.ok
    assert verify(with_witness(items, version=1)) is Result.control_signature_invalid
    transaction = Transaction.read_from(BytesIO(base64.b64decode(with_witness(items))))
    transaction.vout.append(TransactionOutput(0, transaction.vout[0].script_pubkey))
    extra = base64.b64encode(transaction.serialize()).decode()
    assert verify(extra) is Result.control_signature_invalid
    three = [b"", *(d + b"\x01" for d in ders(KEYS, message)), VAULT.witness_script()]
    assert verify(with_witness(three)) is Result.control_signature_invalid  # CLEANSTACK
    assert verify(with_witness([b"\x01", *items[1:]])) is Result.control_signature_invalid


def test_only_strict_low_s_sighash_all_signatures_count() -> None:
    message = message_for()
    first, second = ders(KEYS[:2], message)
    script = VAULT.witness_script()
    not_all = with_witness([b"", first + b"\x01", second + b"\x02", script])
    assert verify(not_all) is Result.control_signature_invalid
    r_length = second[3]
    r, s = second[4 : 4 + r_length], int.from_bytes(second[6 + r_length :], "big")
    high = (0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 - s).to_bytes(
        33, "big"
    )
    high_der = bytes([0x30, 4 + len(r) + 33, 0x02, len(r)]) + r + bytes([0x02, 33]) + high
    assert verify(with_witness([b"", first + b"\x01", high_der + b"\x01", script])) is (
        Result.control_signature_invalid
    )


def test_a_witness_script_other_than_a_bare_multisig_is_unsupported() -> None:
    key = KEYS[0].public_key.format()
    script = b"\x21" + key + b"\xac"  # <key> OP_CHECKSIG
    address = Script(b"\x00\x20" + hashlib.sha256(script).digest()).address()
    message = message_for(address)
    to_sign = bip322_to_sign(message, script_of(address))
    digest = to_sign.sighash_segwit(0, Script(script), 0)
    to_sign.vin[0].witness = Witness([KEYS[0].sign(digest, hasher=None) + b"\x01", script])
    signature = base64.b64encode(to_sign.serialize()).decode()
    assert verify(signature, address) is Result.control_address_type_unsupported


@settings(max_examples=30, deadline=None)
@given(pair=st.sampled_from([(0, 1), (0, 2), (1, 2)]), position=st.integers(0, 10**6),
       bit=st.integers(0, 7))  # fmt: skip
def test_any_two_keys_prove_and_any_changed_byte_is_refused(
    pair: tuple[int, int], position: int, bit: int
) -> None:
    signature = vault_signature([KEYS[n] for n in pair])
    assert verify(signature) is Result.ok
    data = bytearray(base64.b64decode(signature))
    data[position % len(data)] ^= 1 << bit
    assert verify(base64.b64encode(bytes(data)).decode()) is not Result.ok
