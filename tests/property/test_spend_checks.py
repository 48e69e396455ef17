"""Property: the signer's checks pass every spend built for an order, and refuse every crafted
one: an input of another pool's wallet (or the house's), an extra output, a changed amount,
change to another pool's wallet, an input amount the chain does not show, an Ether spend from
another pool's address or to another address, and any transaction other than the approved.

Pools, their wallets (P2WPKH or 2-of-3 P2WSH over random keys), their outputs and the orders
are random. Each tampered transaction is also given its own approval (as a coordinator that
tampered before approval would), so the refusal is the check meant for the tampering, not
merely ``spend_not_approved``; and under the original approval each is refused as that.

And the hold: an order passes ``check_hold`` only when the ledger's pending transfer it names
is still pending and takes exactly its amount of its asset out of its wallet of its pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import coincurve
from embit.psbt import PSBT, InputScope, OutputScope
from embit.script import Script
from embit.transaction import TransactionInput, TransactionOutput
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from ringfence.core.custody.addresses import Network
from ringfence.core.custody.spend_checks import (
    BitcoinFacts,
    EthereumFacts,
    HoldFacts,
    check_bitcoin_spend,
    check_ethereum_spend,
    check_hold,
)
from ringfence.core.custody.spends import (
    Change,
    Coin,
    SpendOrder,
    SpendScript,
    build_bitcoin_spend,
    outpoint,
)
from ringfence.core.custody.spends_ethereum import (
    EthereumTerms,
    EthereumTransaction,
    address_of_key,
    build_ethereum_spend,
    token_transfer_data,
)
from ringfence.core.errors import InputError, Result

NETWORK = Network.regtest
HOUSE = ""
secrets = st.integers(1, 2**255).map(lambda n: n.to_bytes(32, "big"))


@dataclass(frozen=True)
class Wallet:
    name: str
    pool: str
    script: SpendScript

    @property
    def address(self) -> str:
        return self.script.address(NETWORK)


@st.composite
def firms(draw: st.DrawFn) -> tuple[list[Wallet], list[Coin]]:
    pools = [f"pool-{n}" for n in range(draw(st.integers(2, 4)))] + [HOUSE]
    shapes = [
        (pool, n, draw(st.sampled_from((1, 3))))
        for pool in pools
        for n in range(draw(st.integers(1, 2)))
    ]
    total = sum(count for _, _, count in shapes)
    # Keys unique across the firm: the registry never lets one address serve two wallets.
    keys = iter(draw(st.lists(secrets, min_size=total, max_size=total, unique=True)))
    found: list[Wallet] = []
    for pool, n, count in shapes:
        public = tuple(coincurve.PrivateKey(next(keys)).public_key.format() for _ in range(count))
        script = SpendScript(public, 1 if count == 1 else 2)
        found.append(Wallet(f"{pool or 'house'}-w{n}", pool, script))
    coins = []
    for index, wallet in enumerate(found):
        amounts = draw(st.lists(st.integers(1_000, 10**9), min_size=1, max_size=4))
        for n, amount in enumerate(amounts):
            txid = f"{index:02x}{n:02x}" * 16
            coins.append(Coin(txid, n, amount, wallet.address, wallet.name, wallet.script))
    return found, coins


OUTSIDER = SpendScript((coincurve.PrivateKey(b"\x42" * 32).public_key.format(),)).address(NETWORK)
ATTACKS = ("foreign_input", "house_input", "extra_output", "amount", "change_elsewhere",
           "input_amount")  # fmt: skip


def facts_for(wallet_list: list[Wallet], coins: list[Coin], approved: str) -> BitcoinFacts:
    owners = {w.address: w.pool for w in wallet_list}
    utxos = {outpoint(c.txid, c.vout): (c.address, c.amount) for c in coins}
    return BitcoinFacts(owners, utxos, NETWORK, approved)


def refusal(order: SpendOrder, psbt: bytes, facts: BitcoinFacts) -> Result | None:
    try:
        check_bitcoin_spend(order, psbt, facts)
    except InputError as error:
        return error.code
    return None


@settings(max_examples=150, deadline=None)
@given(firm=firms(), data=st.data())
def test_every_built_spend_passes_and_every_crafted_one_is_refused(
    firm: tuple[list[Wallet], list[Coin]], data: st.DataObject
) -> None:
    wallet_list, coins = firm
    pool = data.draw(st.sampled_from(sorted({w.pool for w in wallet_list if w.pool})))
    own = [c for c in coins if c.wallet in {w.name for w in wallet_list if w.pool == pool}]
    total = sum(c.amount for c in own)
    assume(total > 20_000)
    amount = data.draw(st.integers(546, total - 10_000))
    order = SpendOrder("w-1", pool, "BTC", amount, OUTSIDER, 10**8, "any", 1)
    home = next(w for w in wallet_list if w.pool == pool)
    try:
        spend = build_bitcoin_spend(order, own, Change(home.address, home.name, home.script),
                                    1_000, NETWORK)  # fmt: skip
    except InputError as error:
        assert error.code is Result.spend_funds_insufficient
        return
    assert refusal(order, spend.psbt, facts_for(wallet_list, coins, spend.spend_id)) is None

    attack = data.draw(st.sampled_from(ATTACKS))
    event(attack)
    crafted, expected = craft(
        attack, spend.psbt, order=order, wallet_list=wallet_list, coins=coins, data=data
    )
    crafted_id = PSBT.parse(crafted).tx.txid().hex()
    assert crafted_id != spend.spend_id
    assert refusal(order, crafted, facts_for(wallet_list, coins, crafted_id)) is expected
    original = facts_for(wallet_list, coins, spend.spend_id)
    assert refusal(order, crafted, original) is Result.spend_not_approved


def craft(
    attack: str,
    psbt_bytes: bytes,
    *,
    order: SpendOrder,
    wallet_list: list[Wallet],
    coins: list[Coin],
    data: st.DataObject,
) -> tuple[bytes, Result]:
    psbt = PSBT.parse(psbt_bytes)
    others = [w for w in wallet_list if w.pool not in (order.pool, HOUSE)]
    if attack in ("foreign_input", "house_input"):
        pools = {HOUSE} if attack == "house_input" else {w.pool for w in others}
        names = {w.name for w in wallet_list if w.pool in pools}
        foreign = data.draw(st.sampled_from([c for c in coins if c.wallet in names]))
        scope = InputScope(vin=TransactionInput(bytes.fromhex(foreign.txid), foreign.vout))
        script = Script(foreign.script.script_pubkey())
        scope.witness_utxo = TransactionOutput(foreign.amount, script)
        position = data.draw(st.integers(0, len(psbt.inputs)))
        psbt.inputs.insert(position, scope)
        return psbt.serialize(), Result.spend_input_outside_pool
    if attack == "input_amount":
        scope = data.draw(st.sampled_from(psbt.inputs))
        described = scope.witness_utxo
        scope.witness_utxo = TransactionOutput(described.value - 1, described.script_pubkey)
        scope.sequence = 0xFFFFFFFE  # so the transaction, too, differs
        return psbt.serialize(), Result.spend_input_mismatch
    if attack == "amount":
        delta = data.draw(st.sampled_from((-1, 1, -order.amount // 2, 10**6)))
        script = psbt.outputs[0].vout.script_pubkey
        psbt.outputs[0] = OutputScope(vout=TransactionOutput(order.amount + delta, script))
        return psbt.serialize(), Result.spend_amount_mismatch
    target = data.draw(st.sampled_from(others)).script.script_pubkey() if others else b""
    if attack == "change_elsewhere" and len(psbt.outputs) == 2:
        value = psbt.outputs[1].vout.value
        psbt.outputs[1] = OutputScope(vout=TransactionOutput(value, Script(target)))
        return psbt.serialize(), Result.spend_output_outside_pool
    if attack == "change_elsewhere":
        psbt.outputs.append(OutputScope(vout=TransactionOutput(546, Script(target))))
        return psbt.serialize(), Result.spend_output_outside_pool
    extra = data.draw(st.sampled_from((target, Script.from_address(OUTSIDER).data)))
    psbt.outputs.append(OutputScope(vout=TransactionOutput(546, Script(extra))))
    expected = Result.spend_output_extra
    if len(psbt.outputs) == 2:  # no change before: the extra output is a second "change"
        outside = extra == target
        expected = Result.spend_output_outside_pool if outside else Result.spend_output_extra
    return psbt.serialize(), expected


# ---------------------------------------------------------------------- Ethereum

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(secrets, min_size=3, max_size=3, unique=True),
    amount=st.integers(1, 2**128 - 1),
    token=st.booleans(),
    attack=st.sampled_from(("sender", "to", "amount", "extra_value", "data", "fee", "chain")),
)
def test_ether_and_token_spends_pass_and_crafted_ones_are_refused(
    keys: list[bytes], amount: int, token: bool, attack: str
) -> None:
    own, foreign, destination = (
        address_of_key(coincurve.PrivateKey(k).public_key.format(compressed=False)) for k in keys
    )
    owners = {own.lower(): "pool-a", foreign.lower(): "pool-b"}
    order = SpendOrder(
        "w-2", "pool-a", "TOK" if token else "ETH", amount, destination, 10**16, "pool-a-hot", 1
    )
    terms = EthereumTerms(1, own, 9, 60_000, 10**11, 10**9, TOKEN if token else "")
    spend = build_ethereum_spend(order, terms)
    facts = EthereumFacts(owners, 1, spend.spend_id, TOKEN if token else "")
    check_ethereum_spend(order, spend.unsigned, own, facts)

    t = spend.transaction
    sender = own
    fields = {
        "to": t.to, "value": t.value, "data": t.data, "chain_id": t.chain_id,
        "max_fee_per_gas": t.max_fee_per_gas,
    }  # fmt: skip
    expected = {
        "sender": Result.spend_sender_outside_pool,
        "to": Result.spend_destination_missing,
        "amount": Result.spend_amount_mismatch,
        "extra_value": Result.spend_output_extra,
        "data": Result.spend_output_extra,
        "fee": Result.spend_fee_exceeds_bound,
        "chain": Result.spend_chain_mismatch,
    }[attack]
    if attack == "sender":
        sender = foreign
    elif attack == "to":
        fields["to"] = foreign if not token else destination
        if token:
            fields["data"] = token_transfer_data(foreign, amount)
    elif attack == "amount":
        changed = amount + 1 if amount < 2**128 - 1 else amount - 1
        fields["value" if not token else "data"] = (
            changed if not token else token_transfer_data(destination, changed)
        )
    elif attack == "extra_value":
        fields["value"] = t.value + 1 if token else t.value
        fields["data"] = t.data if token else b"\x00"
    elif attack == "data":
        fields["data"] = t.data + b"\x00"
    elif attack == "fee":
        fields["max_fee_per_gas"] = 10**12
    else:
        fields["chain_id"] = 5
    crafted = EthereumTransaction(
        fields["chain_id"], t.nonce, t.max_priority_fee_per_gas, fields["max_fee_per_gas"],  # type: ignore[arg-type]
        t.gas_limit, fields["to"], fields["value"], fields["data"],  # type: ignore[arg-type]
    )  # fmt: skip
    unsigned = crafted.unsigned()
    if attack != "sender":
        assert unsigned != spend.unsigned
    crafted_facts = EthereumFacts(owners, 1, crafted.signing_hash().hex(), facts.token_contract)
    try:
        check_ethereum_spend(order, unsigned, sender, crafted_facts)
    except InputError as error:
        assert error.code is expected, attack
    else:
        raise AssertionError(f"{attack} passed the checks")


hold_statuses = st.sampled_from(["pending", "posted", "voided", "expired"])


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(1, 2**128 - 1),
    status=hold_statuses,
    changes=st.sets(st.sampled_from(["amount", "asset", "wallet", "pool", "house", "client"])),
)
def test_only_the_hold_the_ledger_still_keeps_for_the_order_passes(
    amount: int, status: str, changes: set[str]
) -> None:
    order = SpendOrder("w-3", "pool-a", "BTC", amount, OUTSIDER, 10**5, "pool-a-cold", 9)
    held = amount
    if "amount" in changes:
        held = amount - 1 if amount > 1 else amount + 1
    pool = "pool-a"
    if {"pool", "house"} & changes:
        pool = "" if "house" in changes else "pool-b"
    hold = HoldFacts(
        status,
        held,
        "ETH" if "asset" in changes else "BTC",
        "pool-a-hot" if "wallet" in changes else "pool-a-cold",
        pool,
        "client" not in changes,  # a hold taken from a client's account, not a wallet's
    )
    expected = None
    if status != "pending":
        expected = Result.spend_hold_not_pending
    elif changes:
        expected = Result.spend_hold_mismatch
    event(f"{status}: {expected}")
    try:
        check_hold(order, hold)
    except InputError as error:
        assert error.code is expected
    else:
        assert expected is None
    try:
        check_hold(order, None)
    except InputError as error:
        assert error.code is Result.spend_hold_not_found
    else:
        raise AssertionError("an order with no hold passed")
