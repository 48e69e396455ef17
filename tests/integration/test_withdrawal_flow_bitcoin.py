"""A client's Bitcoin withdrawal out of a 2-of-3 P2WSH vault, end to end through the
lifecycle: requested by an operator, decided by the policy (a cold wallet needs two of
treasury), refused to the initiator, approved by two; processed (built from the vault's
outputs in the UTXO snapshot, checked and signed by two signers with keys on two SoftHSM2
tokens, combined, finalised, verified, written to the outbox), confirmed by the next
snapshot and posted with the fee the transaction paid; and reconciled against the snapshots:
book = chain, no break. Then a withdrawal whose order is altered, or whose hold is voided
around the lifecycle after its transaction was built: the signer refuses before any key is
asked, and the lifecycle voids it.

The signing service is the one bootstrap wires from a settings file (keys as PKCS#11 URIs,
the vault's script, the snapshot and outbox folders).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import coincurve
import pytest
from embit.transaction import Transaction
from tests.support import (
    ADMIN,
    Custodian,
    build_custodian,
    journal_signer,
    key_seed,
    principal_for,
)
from tests.support_hsm import user_pin, vault_token_labels
from tests.support_policy import policy_text
from tests.support_withdrawals import STAFF, actor, publish_policy

from ringfence import bootstrap
from ringfence.adapters.chains.utxo_snapshot import UtxoSnapshotSource
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.hsm import KeyLocation
from ringfence.adapters.hsm_chain import HsmChainSigner
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.custody.addresses import Network
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.custody.spend_checks import verify_bitcoin_transaction
from ringfence.core.custody.spends import SpendScript, SpendState
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.core.principals.records import endorse
from ringfence.core.recon.run import ReconSettings
from ringfence.service import withdrawals
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books
from ringfence.service.ports import WithdrawalChain
from ringfence.service.recon import ReconService
from ringfence.service.spends import SpendService
from ringfence.service.withdrawal_payments import spend_order

REGTEST = Network.regtest
SAT = 10**8
RECOVERY = coincurve.PrivateKey(b"\x19" * 32)  # the vault's third key, kept offline
OUTSIDER = SpendScript((coincurve.PrivateKey(b"\x1b" * 32).public_key.format(),))


def snapshot(height: int, rows: list[tuple[str, str, int, int, int]]) -> bytes:
    block = hashlib.sha256(str(height).encode()).hexdigest()
    lines = [
        "# ringfence utxo snapshot v1", "# chain: bitcoin", "# network: regtest",
        f"# height: {height}", f"# block_hash: {block}", "address,txid,vout,amount,height",
        *(f"{a},{t},{v},{amount},{h}" for a, t, v, amount, h in rows),
    ]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Vault:
    ledger: LedgerService
    custodian: Custodian
    script: SpendScript
    folder: Path  # the snapshots
    outbox: Path
    settings: Path

    @property
    def address(self) -> str:
        return self.script.address(REGTEST)

    def chain(self) -> WithdrawalChain:
        made = bootstrap.withdrawal_chain(self.ledger, str(self.settings))
        assert made is not None
        return made

    def book(self) -> int:
        state = self.ledger.ledger.accounts[self.custodian.wallet("main", "BTC", which=1)]
        return state.debits_posted - state.credits_posted


@pytest.fixture
def vault(
    softhsm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Vault:
    """main-cold is a 2-of-3 vault: one key on each of two SoftHSM2 tokens, the third
    offline. Its two outputs in the snapshot (0.65 BTC) are alice's deposits in the book;
    alice's 0.01 BTC fee stays in the vault as the house's residual interest."""
    label = f"flow-{request.node.name[:40]}"  # the tokens live as long as the test session
    public = []
    for token in vault_token_labels:
        key = HsmChainSigner(KeyLocation(softhsm, token, label), user_pin)
        key.create()
        public.append(key.public_key())
    public.append(RECOVERY.public_key.format())
    script = SpendScript(tuple(k for k in public if k is not None), 2)
    clock = ManualClock()
    ledger = LedgerService(MemoryStore(), clock, journal_signer())
    custodian = build_custodian(ledger)
    staff = [endorse(ledger.ledger_id, ADMIN, key_seed(ADMIN), principal_for(name, role))
             for name, role in STAFF.items()]  # fmt: skip
    assert all(result is Result.ok for result in ledger.change_principals(staff))
    wallet = Wallet("main-cold", Chain.bitcoin, Scheme.address, (script.address(REGTEST),),
                    "main", "cold", "regtest")  # fmt: skip
    assert CustodyService(ledger).change([wallet]) == [Result.ok]
    cold = custodian.wallet("main", "BTC", which=1)
    alice = custodian.client("alice")
    booked = ledger.submit([
        Transfer(1, cold, alice, 40_000_000, TransferCode.deposit),
        Transfer(2, cold, alice, 25_000_000, TransferCode.deposit),
        custodian.fee(3, "alice", SAT // 100),
    ])  # fmt: skip
    assert booked == [Result.ok] * 3, booked
    publish_policy(ledger, clock, policy_text())

    folder, outbox = tmp_path / "snapshots", tmp_path / "outbox"
    folder.mkdir()
    (folder / "0200.csv").write_bytes(snapshot(200, [
        (script.address(REGTEST), "c1" * 32, 0, 40_000_000, 150),
        (script.address(REGTEST), "c2" * 32, 3, 25_000_000, 190),
    ]))  # fmt: skip
    settings = tmp_path / "spends.json"
    settings.write_text(json.dumps({
        "store": str(tmp_path / "spends"),
        "wallets": {"main-cold": {
            "keys": [f"pkcs11:token={token};object={label}" for token in vault_token_labels],
            "script": [key.hex() for key in script.public_keys], "threshold": 2,
        }},
        "bitcoin": {"snapshots": str(folder), "outbox": str(outbox), "network": "regtest",
                    "fee_rate_sat_per_kvb": 5_000},
    }))  # fmt: skip
    monkeypatch.setenv("RINGFENCE_HSM_PIN", user_pin)
    return Vault(ledger, custodian, script, folder, outbox, settings)


def requested_by_ops(vault: Vault, withdrawal_id: int, amount: str) -> dict[str, object]:
    body = {"id": str(withdrawal_id), "client": "alice", "pool": "main", "wallet": "main-cold",
            "asset": "BTC", "amount": amount, "destination": OUTSIDER.address(REGTEST)}  # fmt: skip
    return withdrawals.request(vault.ledger, actor("ops"), body)


def test_a_vault_withdrawal_from_request_to_reconciled(vault: Vault) -> None:
    ledger = vault.ledger
    requested = requested_by_ops(vault, 601, "0.3")
    assert (requested["status"], requested["decision"]["rule"]) == (
        "awaiting_approval", "cold-needs-two",
    )  # fmt: skip
    with pytest.raises(InputError) as refused:
        withdrawals.approve(ledger, actor("ops"), 601)
    assert refused.value.code is Result.approver_is_initiator
    withdrawals.approve(ledger, actor("ann"), 601)
    assert withdrawals.approve(ledger, actor("ben"), 601)["status"] == "held"

    first = withdrawals.process(ledger, actor("ops"), vault.chain(), 2)
    assert first["advanced"] == [{"id": "601", "status": "broadcast"}], first
    txid = withdrawals.show(ledger, actor("ops"), 601)["txid"]
    raw = bytes.fromhex((vault.outbox / f"{txid}.hex").read_text().strip())
    transaction = Transaction.parse(raw)
    (spent_input,) = transaction.vin
    assert f"{spent_input.txid.hex()}:{spent_input.vout}" == f"{'c1' * 32}:0"
    witness = spent_input.witness.items
    assert (len(witness), witness[0], witness[-1]) == (4, b"", vault.script.witness_script())
    spent = {f"{'c1' * 32}:0": (vault.script.script_pubkey(), 40_000_000)}
    assert verify_bitcoin_transaction(raw, spent) == txid
    paid = {bytes(o.script_pubkey.data): o.value for o in transaction.vout}
    assert paid.pop(OUTSIDER.script_pubkey()) == 30_000_000
    change = paid.pop(vault.script.script_pubkey())  # back to the same vault
    assert paid == {}
    fee = 40_000_000 - 30_000_000 - change
    assert 0 < fee <= 50_000  # the policy's fee_max: 0.0005 BTC
    assert withdrawals.process(ledger, actor("ops"), vault.chain(), 2)["posted"] == []

    (vault.folder / "0203.csv").write_bytes(snapshot(203, [
        (vault.address, "c2" * 32, 3, 25_000_000, 190),
        (vault.address, txid, 1, change, 202),
    ]))  # fmt: skip
    second = withdrawals.process(ledger, actor("ops"), vault.chain(), 2)
    assert second["posted"] == [{"id": "601", "network_fee": f"0.{fee:08d}",
                                 "network_fee_asset": "BTC", "network_fee_result": "ok"}]
    shown = withdrawals.show(ledger, actor("ops"), 601)
    assert (shown["status"], shown["confirmations"]) == ("posted", 2)
    alice = ledger.ledger.accounts[vault.custodian.client("alice")]
    assert (alice.credits_posted - alice.debits_posted, alice.debits_pending) == (
        34_000_000, 0,
    )  # fmt: skip

    source = UtxoSnapshotSource(sorted(vault.folder.glob("*.csv")), REGTEST)
    (observed,) = source.holdings([vault.address])
    assert observed.amount == vault.book() == 25_000_000 + change
    recon = ReconService(CustodyService(ledger))
    run = recon.run_with_source(source, ReconSettings(), chain=Chain.bitcoin)
    assert all(line.difference == 0 for line in run.external)
    assert (run.snapshots, recon.history.book.open_breaks(), run.alerts) == ([], [], [])


def test_a_hold_voided_or_altered_after_the_build_is_never_signed(vault: Vault) -> None:
    ledger = vault.ledger
    requested_by_ops(vault, 602, "0.2")
    withdrawals.approve(ledger, actor("ann"), 602)
    withdrawals.approve(ledger, actor("ben"), 602)
    chain = vault.chain()
    assert isinstance(chain, SpendService)
    order = spend_order(books(ledger).withdrawals.withdrawals[602])
    spend_id = chain.build(order)

    def refused(call: Callable[[], object]) -> Result | None:
        with pytest.raises(InputError) as error:
            call()
        return error.value.code

    # An order that is not what the ledger holds: another amount, another wallet.
    assert refused(lambda: chain.sign(replace(order, amount=order.amount + 1), spend_id)) is (
        Result.spend_hold_mismatch
    )
    assert refused(lambda: chain.sign(replace(order, wallet="main-hot"), spend_id)) is (
        Result.spend_hold_mismatch
    )
    # The hold voided straight in the ledger, around the lifecycle, after the build.
    void = Transfer(9_602, 0, 0, None, TransferCode.withdrawal, TransferFlags.void_pending,
                    pending_id=order.hold_transfer_id)  # fmt: skip
    assert ledger.submit([void]) == [Result.ok]
    assert refused(lambda: chain.sign(order, spend_id)) is Result.spend_hold_not_pending
    assert chain.record(spend_id).state is SpendState.built  # no key was asked

    report = withdrawals.process(ledger, actor("ops"), chain, 2)
    assert report["voided"] == [{"id": "602", "reason": "spend_hold_not_pending"}]
    shown = withdrawals.show(ledger, actor("ops"), 602)
    assert (shown["status"], shown["void_transfer"]) == ("voided", None)  # nothing to void
    assert not vault.outbox.exists() or list(vault.outbox.iterdir()) == []
