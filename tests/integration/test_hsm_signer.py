"""The PKCS#11 signers against a real token: SoftHSM2, initialised for this test session
(tests/support_hsm.py: its own token folder and configuration, a token the tests log into and
one that is only ever offered a wrong PIN; without softhsm2 the tests skip, except under
``CI=true``, where they fail)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import coincurve
import eth_keys
import nacl.exceptions
import nacl.signing
import pytest
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.exceptions import PKCS11Error
from pkcs11.util.ec import encode_named_curve_parameters
from tests.support_hsm import other_token_label, token_label, user_pin

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.hsm import (
    HsmError,
    HsmJournalSigner,
    KeyLocation,
    ed25519_curve,
    open_token,
    secp256k1_order,
)
from ringfence.adapters.hsm_chain import HsmChainSigner, der_signature
from ringfence.adapters.signing import KeyFileSigner, write_key_file
from ringfence.core import errors
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.ledger.authenticity import head_message
from ringfence.core.ledger.journal import genesis_hash
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    TransferCode,
)
from ringfence.core.money import Asset
from ringfence.service.audit import AuditReport, verify_store
from ringfence.service.ledger import LedgerService

hot, alice, bob = 1, 2, 3


def location_of(module_path: str, request: pytest.FixtureRequest, role: str) -> KeyLocation:
    """A key label of this test's own, so tests share the token without sharing keys."""
    return KeyLocation(module_path, token_label, f"{request.node.name[:40]}-{role}")


def build_ledger(service: LedgerService) -> None:
    service.define_assets([Asset("BTC", 8, 1, "bitcoin")])
    service.define_clients(["alice", "bob"])
    service.define_pools([Pool("omni", PoolKind.omnibus, Terms.custody)])
    service.define_accounts(
        [
            AccountDefinition(hot, "BTC", AccountClass.custody, "omni-hot", "hot", "omni"),
            AccountDefinition(alice, "BTC", AccountClass.client, "alice", "available", "omni"),
            AccountDefinition(bob, "BTC", AccountClass.client, "bob", "available", "omni"),
        ]
    )
    assert service.submit([Transfer(10, hot, alice, 5_000, TransferCode.deposit)]) == [Result.ok]


def audit(url: str, trusted_keys: list[bytes]) -> AuditReport:
    store = bootstrap.open_store(url, create=False)
    try:
        return verify_store(store, trusted_keys=trusted_keys)
    finally:
        store.close()


# ---------------------------------------------------------------------- the journal key


def test_journal_key_is_made_on_the_token_and_signs_as_ed25519(
    softhsm: str, request: pytest.FixtureRequest
) -> None:
    signer = HsmJournalSigner(location_of(softhsm, request, "journal"), user_pin)
    assert signer.public_key() is None
    with pytest.raises(InputError) as missing:
        signer.sign(b"a head")
    assert missing.value.code is Result.journal_key_missing

    public_key = signer.create()
    assert len(public_key) == 32
    assert signer.public_key() == public_key
    for message in (b"", b"a head", bytes(range(256)) * 4):
        signature = signer.sign(message)
        assert len(signature) == 64
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    with pytest.raises(nacl.exceptions.BadSignatureError):
        nacl.signing.VerifyKey(public_key).verify(b"another head", signer.sign(b"a head"))

    with pytest.raises(InputError) as exists:
        signer.create()
    assert exists.value.code is Result.journal_key_exists
    # Another signer for the same key (the next process) finds it by its label.
    again = HsmJournalSigner(signer.location, user_pin)
    assert again.public_key() == public_key


# RFC 8032 section 7.1, tests 1 and 2: secret key (seed), public key, message, signature.
rfc_8032_vectors = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


def import_ed25519(softhsm: str, label: str, seed: bytes, public_key: bytes) -> None:
    """A known Ed25519 key as session objects on the test token (gone when the session
    closes). For this test only: the adapter itself never imports a key, it makes them."""
    token = open_token(softhsm, token_label, user_pin)
    curve = encode_named_curve_parameters(ed25519_curve)
    common = {Attribute.KEY_TYPE: KeyType.EC_EDWARDS, Attribute.TOKEN: False,
              Attribute.LABEL: label, Attribute.EC_PARAMS: curve}  # fmt: skip
    with token.lock:
        token.session.create_object(
            {**common, Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.VALUE: seed,
             Attribute.SIGN: True, Attribute.SENSITIVE: True, Attribute.PRIVATE: True}
        )  # fmt: skip
        token.session.create_object(
            {**common, Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.VERIFY: True,
             Attribute.EC_POINT: bytes([0x04, 32]) + public_key}
        )  # fmt: skip


def test_token_signs_byte_for_byte_as_rfc_8032_and_the_key_file(
    softhsm: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Ed25519 is deterministic, so the token's signature with a known key must be RFC
    8032's, and the key file's, to the byte."""
    for index, vector in enumerate(rfc_8032_vectors):
        seed, public_key, message, signature = (bytes.fromhex(part) for part in vector)
        location = location_of(softhsm, request, f"rfc{index}")
        import_ed25519(softhsm, location.object_label, seed, public_key)
        signer = HsmJournalSigner(location, user_pin)
        assert signer.public_key() == public_key
        assert signer.sign(message) == signature
        write_key_file(tmp_path / f"rfc{index}.journal-key", seed)
        key_file = KeyFileSigner(tmp_path / f"rfc{index}.journal-key")
        head = head_message(7, hashlib.sha256(message).digest())
        assert signer.sign(head) == key_file.sign(head)


def test_ledger_signed_by_the_hsm_passes_the_audit(
    softhsm: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    location = location_of(softhsm, request, "journal")
    monkeypatch.setenv("RINGFENCE_HSM_PIN", user_pin)
    monkeypatch.setenv("RINGFENCE_PKCS11_MODULE", softhsm)
    # Chosen by the composition root from the key spec alone, as --journal-key would be.
    signer = bootstrap.journal_signer(url, location.uri())
    assert isinstance(signer, HsmJournalSigner)
    assert signer.location == location

    service = LedgerService(bootstrap.open_store(url), ManualClock(), signer)
    build_ledger(service)
    service.close()
    public_key = signer.public_key()
    assert public_key is not None

    report = audit(url, [public_key])
    assert report.ok, report.problems
    assert report.key_trusted
    assert report.journal_keys == [(1, public_key.hex())]
    # And a key it was not signed by is not vouched for.
    stranger = bytes(nacl.signing.SigningKey.generate().verify_key)
    assert not audit(url, [stranger]).key_trusted


def test_wrong_pin_is_named_and_nothing_is_written(
    softhsm: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    cases = [
        # A token this process has not logged into: the device itself refuses the PIN.
        (KeyLocation(softhsm, other_token_label, "journal"), "000000", "hsm_pin_incorrect"),
        # The token the other tests hold a login on: the PIN must still be its PIN.
        (location_of(softhsm, request, "journal"), "000000", "hsm_pin_incorrect"),
        (location_of(softhsm, request, "journal"), None, "hsm_pin_missing"),
        (KeyLocation(softhsm, "no-such-token", "journal"), user_pin, "hsm_token_not_found"),
        (KeyLocation("/no/such/module.so", token_label, "j"), user_pin, "hsm_module_unavailable"),
    ]
    open_token(softhsm, token_label, user_pin)  # the held login of the second case
    for location, pin, reason in cases:
        signer = HsmJournalSigner(location, pin)
        service = LedgerService(bootstrap.open_store(url), ManualClock(), signer)
        with pytest.raises(HsmError) as refused:
            service.define_assets([Asset("BTC", 8, 1, "bitcoin")])
        assert isinstance(refused.value, StorageError)
        assert refused.value.reason == reason
        assert service.seq == 0
        service.close()
        store = bootstrap.open_store(url)
        assert store.head() == (0, genesis_hash)
        assert list(store.entries(after_seq=0)) == []
        store.close()
    # The right PIN still works after the wrong ones (SoftHSM2 does not lock this token).
    other = HsmJournalSigner(KeyLocation(softhsm, other_token_label, "x"), user_pin)
    assert other.public_key() is None


def test_private_keys_cannot_be_read_from_the_token(
    softhsm: str, request: pytest.FixtureRequest
) -> None:
    journal = HsmJournalSigner(location_of(softhsm, request, "journal"), user_pin)
    journal.create()
    chain = HsmChainSigner(location_of(softhsm, request, "chain"), user_pin)
    chain.create()
    token = open_token(softhsm, token_label, user_pin)
    for signer, key_type in ((journal, KeyType.EC_EDWARDS), (chain, KeyType.EC)):
        private = token.find_key(ObjectClass.PRIVATE_KEY, key_type, signer.location.object_label)
        assert private is not None
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.ALWAYS_SENSITIVE] is True
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(PKCS11Error):
            private[Attribute.VALUE]
        # Nor can it be made readable afterwards.
        with pytest.raises(PKCS11Error):
            private[Attribute.EXTRACTABLE] = True


def test_journal_key_rotates_from_a_key_file_to_the_hsm(
    softhsm: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    key_file = KeyFileSigner(tmp_path / "ledger.db.journal-key")
    service = LedgerService(bootstrap.open_store(url), ManualClock(), key_file)
    build_ledger(service)
    file_key = key_file.public_key()
    assert file_key is not None

    hsm = HsmJournalSigner(location_of(softhsm, request, "journal"), user_pin)
    hsm_key = service.rotate_journal_key(hsm)
    assert hsm_key == hsm.public_key()
    rotated_at = service.seq
    assert service.submit([Transfer(11, hot, bob, 3_000, TransferCode.deposit)]) == [Result.ok]
    service.close()

    # The next writer holds only the HSM key; the key file is refused.
    reopened = LedgerService(bootstrap.open_store(url), ManualClock(), hsm)
    assert reopened.submit([Transfer(12, alice, hot, 900, TransferCode.withdrawal)]) == [Result.ok]
    reopened.close()
    stale = LedgerService(bootstrap.open_store(url), ManualClock(), KeyFileSigner(key_file.path))
    with pytest.raises(InputError) as mismatch:
        stale.submit([Transfer(13, alice, hot, 100, TransferCode.withdrawal)])
    assert mismatch.value.code is Result.journal_key_mismatch
    stale.close()

    report = audit(url, [file_key, hsm_key])
    assert report.ok, report.problems
    assert report.key_trusted
    assert report.journal_keys == [(1, file_key.hex()), (rotated_at, hsm_key.hex())]


# python-pkcs11's key search, cut short by the dead session, tries to end itself on that
# session when collected and reports the failure as an unraisable exception; nothing is lost.
@pytest.mark.filterwarnings("ignore:Exception ignored in:pytest.PytestUnraisableExceptionWarning")
def test_a_dropped_session_is_opened_anew_and_the_signature_asked_again(
    softhsm: str, request: pytest.FixtureRequest
) -> None:
    signer = HsmJournalSigner(location_of(softhsm, request, "journal"), user_pin)
    public_key = signer.create()
    first = signer.token()
    # The device drops the session behind the adapter's back (a restart, a removal).
    with first.lock:
        first.session.close()
    signature = signer.sign(b"after the restart")
    nacl.signing.VerifyKey(public_key).verify(b"after the restart", signature)
    assert first.lost
    assert signer.token() is not first
    assert open_token(softhsm, token_label, user_pin) is signer.token()


def test_threads_share_one_session_without_tripping_over_each_other(
    softhsm: str, request: pytest.FixtureRequest
) -> None:
    journal = HsmJournalSigner(location_of(softhsm, request, "journal"), user_pin)
    journal_key = nacl.signing.VerifyKey(journal.create())
    chain = HsmChainSigner(location_of(softhsm, request, "chain"), user_pin)
    chain_key = coincurve.PublicKey(chain.create())

    def sign_many(worker: int) -> int:
        for index in range(40):
            message = f"{worker}:{index}".encode()
            journal_key.verify(message, journal.sign(message))
            digest = hashlib.sha256(message).digest()
            assert chain_key.verify(der_signature(*chain.sign_digest(digest)), digest, hasher=None)
        return worker

    # Without the token's lock, two threads in one session meet CKR_OPERATION_ACTIVE.
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sorted(pool.map(sign_many, range(4))) == [0, 1, 2, 3]


# ---------------------------------------------------------------------- chain keys


def test_secp256k1_signatures_verify_are_low_s_and_recover(
    softhsm: str, request: pytest.FixtureRequest
) -> None:
    signer = HsmChainSigner(location_of(softhsm, request, "chain"), user_pin)
    assert signer.public_key() is None
    with pytest.raises(HsmError) as missing:
        signer.sign_digest(bytes(32))
    assert missing.value.reason == "hsm_key_not_found"

    public_key = signer.create()
    assert len(public_key) == 33
    assert signer.public_key() == public_key
    uncompressed = signer.public_key(compressed=False)
    assert uncompressed is not None
    address = eth_keys.keys.PublicKey(uncompressed[1:]).to_checksum_address()
    verifier = coincurve.PublicKey(public_key)
    for index in range(24):
        digest = hashlib.sha256(index.to_bytes(4, "big")).digest()
        r, s = signer.sign_digest(digest)
        assert 0 < s <= secp256k1_order // 2
        # libsecp256k1 accepts only low-S signatures: this is the check Bitcoin nodes make.
        assert verifier.verify(der_signature(r, s), digest, hasher=None)
        assert not verifier.verify(der_signature(r, s), bytes(32), hasher=None)
        recoverable = signer.sign_recoverable(digest)
        assert recoverable[64] in (0, 1)
        ethereum = eth_keys.keys.Signature(recoverable)
        assert ethereum.s <= secp256k1_order // 2
        assert ethereum.recover_public_key_from_msg_hash(digest).to_checksum_address() == address

    with pytest.raises(HsmError) as exists:
        signer.create()
    assert exists.value.reason == "hsm_key_exists"


# ---------------------------------------------------------------------- the command line


def run_cli(*arguments: str, pin: str | None, key: str) -> subprocess.CompletedProcess[str]:
    """``ringfence`` in its own process (its own PKCS#11 login), the key given as the
    environment gives it; the PIN only through ``RINGFENCE_HSM_PIN``."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("RINGFENCE_DB", "RINGFENCE_HSM_PIN", "RINGFENCE_JOURNAL_KEY")
    }
    environment["RINGFENCE_JOURNAL_KEY"] = key
    if pin is not None:
        environment["RINGFENCE_HSM_PIN"] = pin
    command = [str(Path(sys.executable).parent / "ringfence"), *arguments]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=environment, check=False
    )


def test_the_command_line_writes_with_a_key_on_the_token(
    softhsm: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Two runs of the command line (each costs seconds to start): a write with the key on
    the token, then one refused for its PIN."""
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    bootstrap.open_store(database).close()  # what `ringfence init` does
    location = location_of(softhsm, request, "journal")
    key = f"{location.uri()}?module-path={softhsm}"
    bitcoin = ["assets", "create", "--code", "BTC", "--scale", "8", "--number", "1"]
    created = run_cli(
        "--db", database, *bitcoin, "--chain", "bitcoin", "--json", pin=user_pin, key=key
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["results"] == [{"asset": "BTC", "result": "ok"}]

    ether = ["assets", "create", "--code", "ETH", "--scale", "18", "--number", "2"]
    wrong = run_cli("--db", database, *ether, "--chain", "ethereum", pin="999999", key=key)
    assert wrong.returncode == errors.exit_status_storage
    assert "hsm_pin_incorrect" in wrong.stderr
    assert "999999" not in wrong.stderr + wrong.stdout

    # The journal was signed on the token (as this process reads the key), and only once.
    public_key = HsmJournalSigner(location, user_pin).public_key()
    assert public_key is not None
    report = audit(database, [public_key])
    assert report.ok, report.problems
    assert report.key_trusted
    assert report.entries == 2  # the key's declaration and the asset; nothing after
