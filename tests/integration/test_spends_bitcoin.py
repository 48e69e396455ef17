"""A Bitcoin withdrawal from a 2-of-3 vault through the signing service, with two keys on two
SoftHSM2 tokens: built from the snapshot's outputs, checked and signed by each signer, combined,
finalised and verified against the outputs it spends, written to the outbox once, and
confirmed by the next snapshot. And what the service refuses before a key is asked."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import coincurve
import pytest
from embit.psbt import PSBT
from embit.script import Script
from embit.transaction import Transaction
from tests.support import journal_signer
from tests.support_hsm import user_pin, vault_token_labels
from tests.support_spends import held

from ringfence.adapters.chains.bitcoin_outbox import OutboxBroadcaster
from ringfence.adapters.chains.utxo_snapshot import SnapshotFolder
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.files.spends import SpendDirectory
from ringfence.adapters.hsm import KeyLocation
from ringfence.adapters.hsm_chain import HsmChainSigner
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.custody.addresses import Network
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.custody.spend_checks import verify_bitcoin_transaction
from ringfence.core.custody.spends import SpendOrder, SpendScript, SpendState
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Pool, PoolKind, Terms
from ringfence.core.money import Asset
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.spends import BitcoinChain, SpendService, WalletSigning

REGTEST = Network.regtest
RECOVERY = coincurve.PrivateKey(b"\x09" * 32)  # the vault's third key, kept offline
OTHER_POOL_KEY = coincurve.PrivateKey(b"\x0a" * 32)
OUTSIDER = SpendScript((coincurve.PrivateKey(b"\x0b" * 32).public_key.format(),))


class CountingKey:
    """A key that counts what it is asked to sign: to show refusals come before any key."""

    def __init__(self, key: HsmChainSigner) -> None:
        self.key = key
        self.signed = 0

    def public_key(self, compressed: bool = True) -> bytes | None:
        return self.key.public_key(compressed)

    def sign_digest(self, digest: bytes) -> tuple[int, int]:
        self.signed += 1
        return self.key.sign_digest(digest)

    def sign_recoverable(self, digest: bytes) -> bytes:
        self.signed += 1
        return self.key.sign_recoverable(digest)


def snapshot(height: int, rows: list[tuple[str, str, int, int, int]]) -> bytes:
    block = hashlib.sha256(str(height).encode()).hexdigest()
    lines = [
        "# ringfence utxo snapshot v1", "# chain: bitcoin", "# network: regtest",
        f"# height: {height}", f"# block_hash: {block}", "address,txid,vout,amount,height",
        *(f"{a},{t},{v},{amount},{h}" for a, t, v, amount, h in rows),
    ]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def vault_keys(softhsm: str, request: pytest.FixtureRequest) -> tuple[CountingKey, CountingKey]:
    label = f"{request.node.name[:40]}-vault"
    keys = []
    for token in vault_token_labels:  # one key per device
        key = HsmChainSigner(KeyLocation(softhsm, token, label), user_pin)
        key.create()
        keys.append(CountingKey(key))
    return keys[0], keys[1]


def setting_up(
    tmp_path: Path, keys: tuple[CountingKey, CountingKey]
) -> tuple[SpendService, SpendScript, Path]:
    public = (*(k.public_key() or b"" for k in keys), RECOVERY.public_key.format())
    vault = SpendScript(public, 2)
    other = SpendScript((OTHER_POOL_KEY.public_key.format(),))
    ledger = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    ledger.define_assets([Asset("BTC", 8, 1, "bitcoin")])
    ledger.define_pools(
        [
            Pool("omni", PoolKind.omnibus, Terms.custody),
            Pool("earn", PoolKind.omnibus, Terms.custody),
        ]
    )
    custody = CustodyService(ledger)
    wallets = [
        Wallet("omni-vault", Chain.bitcoin, Scheme.address, (vault.address(REGTEST),), "omni",
               "cold", "regtest"),
        Wallet("earn-hot", Chain.bitcoin, Scheme.address, (other.address(REGTEST),), "earn",
               "hot", "regtest"),
    ]  # fmt: skip
    assert custody.change(wallets) == [Result.ok, Result.ok]
    folder = tmp_path / "snapshots"
    folder.mkdir()
    (folder / "0200.csv").write_bytes(
        snapshot(200, [
            (vault.address(REGTEST), "a1" * 32, 0, 40_000_000, 150),
            (vault.address(REGTEST), "a2" * 32, 3, 25_000_000, 190),
            (other.address(REGTEST), "b1" * 32, 1, 90_000_000, 180),
        ])
    )  # fmt: skip
    signing = {"omni-vault": WalletSigning("omni-vault", keys, vault)}
    chain = BitcoinChain(
        SnapshotFolder(folder, REGTEST), OutboxBroadcaster(tmp_path / "outbox"), REGTEST, 5_000
    )
    service = SpendService(custody, SpendDirectory(tmp_path / "spends"), signing, bitcoin=chain)
    return service, vault, folder


def order(service: SpendService, withdrawal: str = "wd-1", amount: int = 30_000_000) -> SpendOrder:
    """The order of ``withdrawal``, and its hold in the ledger (placed once)."""
    hold_id = int.from_bytes(hashlib.sha256(f"{withdrawal}:{amount}".encode()).digest()[:8]) + 1
    held(service.custody.ledger, "omni-vault", "omni", asset="BTC", amount=amount, hold_id=hold_id)
    return SpendOrder(withdrawal, "omni", "BTC", amount, OUTSIDER.address(REGTEST), 50_000,
                      "omni-vault", hold_id)  # fmt: skip


def test_a_vault_withdrawal_is_signed_by_two_devices_sent_once_and_confirmed(
    tmp_path: Path, vault_keys: tuple[CountingKey, CountingKey]
) -> None:
    service, vault, folder = setting_up(tmp_path, vault_keys)
    spend_id = service.build(order(service))
    assert service.build(order(service)) == spend_id  # one spend per withdrawal
    service.sign(order(service), spend_id)
    assert [key.signed for key in vault_keys] == [1, 1]  # one input (40M covers 30M), two keys
    record = service.record(spend_id)
    assert record.state is SpendState.signed
    assert record.outpoints == (f"{'a1' * 32}:0",)

    # The finalised transaction, as a node would get it, verified against the snapshot.
    transaction = Transaction.parse(record.signed)
    witness = transaction.vin[0].witness.items
    assert witness[0] == b""
    assert witness[-1] == vault.witness_script()
    spent = {f"{'a1' * 32}:0": (vault.script_pubkey(), 40_000_000)}
    assert verify_bitcoin_transaction(record.signed, spent) == spend_id == record.txid
    paid = {(o.script_pubkey.data, o.value) for o in transaction.vout}
    assert (OUTSIDER.script_pubkey(), 30_000_000) in paid
    fee = 40_000_000 - sum(o.value for o in transaction.vout)
    assert 0 < fee <= 50_000

    txid = service.broadcast(order(service), spend_id)
    assert (tmp_path / "outbox" / f"{txid}.hex").read_text().strip() == record.signed.hex()
    (tmp_path / "outbox" / f"{txid}.hex").unlink()  # a second write would bring it back
    assert service.broadcast(order(service), spend_id) == txid  # answered, not sent again
    assert not (tmp_path / "outbox").joinpath(f"{txid}.hex").exists()
    assert service.confirmations(order(service), txid) == 0

    # The next snapshot: the input is gone, the change is there, two blocks after the spend.
    change = next(
        o.value for o in transaction.vout if o.script_pubkey.data == vault.script_pubkey()
    )
    (folder / "0203.csv").write_bytes(
        snapshot(203, [
            (vault.address(REGTEST), "a2" * 32, 3, 25_000_000, 190),
            (vault.address(REGTEST), txid, 1, change, 202),
        ])
    )  # fmt: skip
    assert service.confirmations(order(service), txid) == 2
    # A second withdrawal no longer sees the spent output, nor the one in flight.
    second = service.build(order(service, "wd-2", 20_000_000))
    assert service.record(second).outpoints == (f"{'a2' * 32}:3",)


def test_what_is_not_the_approved_spend_is_refused_before_any_key_is_asked(
    tmp_path: Path, vault_keys: tuple[CountingKey, CountingKey]
) -> None:
    service, _, _ = setting_up(tmp_path, vault_keys)

    def refused(call: object) -> Result:
        with pytest.raises(InputError) as error:
            call()  # type: ignore[operator]
        return error.value.code

    low_fee = replace(order(service, "wd-4", 1_000_000), fee_max=100)
    assert refused(lambda: service.build(low_fee)) is Result.spend_fee_exceeds_bound
    first = service.build(order(service))
    other = service.build(order(service, "wd-2", 10_000_000))

    # Another withdrawal's spend, and a spend not built at all.
    assert refused(lambda: service.sign(order(service), other)) is Result.spend_not_approved
    assert refused(lambda: service.sign(order(service), "00" * 32)) is Result.spend_not_found
    # The stored PSBT swapped for one paying elsewhere under the same spend id.
    record = service.record(first)
    psbt = PSBT.parse(record.unsigned)
    psbt.outputs[0].script_pubkey = Script(
        SpendScript((OTHER_POOL_KEY.public_key.format(),)).script_pubkey()
    )
    service.store.put(replace(record, unsigned=psbt.serialize()))
    assert refused(lambda: service.sign(order(service), first)) is Result.spend_not_approved
    # Not signed: nothing to broadcast.
    service.store.put(record)
    assert refused(lambda: service.broadcast(order(service), first)) is Result.spend_not_signed
    assert [key.signed for key in vault_keys] == [0, 0]
    # One key of the vault is not enough.
    service.signing["omni-vault"] = replace(service.signing["omni-vault"], keys=vault_keys[:1])
    assert refused(lambda: service.sign(order(service), first)) is Result.spend_signers_insufficient
    assert [key.signed for key in vault_keys] == [0, 0]
    # More than the pool has free.
    assert refused(lambda: service.build(order(service, "wd-3", 60_000_000))) is (
        Result.spend_funds_insufficient
    )
