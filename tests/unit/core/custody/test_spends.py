"""core/custody/spends.py and spends_ethereum.py: building, against published vectors where one
applies (BIP 143's native P2WPKH example), and against the libraries' own encodings."""

from __future__ import annotations

import coincurve
import pytest
from bip_utils import Bip32Secp256k1
from embit import bip32, ec
from embit.finalizer import finalize_psbt
from embit.psbt import PSBT
from embit.script import Script
from embit.transaction import Transaction
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction

from ringfence.core.custody.addresses import Network
from ringfence.core.custody.spend_checks import (
    BitcoinFacts,
    check_bitcoin_spend,
    verify_bitcoin_transaction,
)
from ringfence.core.custody.spends import (
    Change,
    Coin,
    KeyOrigin,
    SpendOrder,
    SpendScript,
    build_bitcoin_spend,
    der_signature,
    fee_for,
    script_code,
    script_pubkey_of,
)
from ringfence.core.custody.spends_ethereum import (
    EthereumTerms,
    build_ethereum_spend,
    decode_unsigned,
    token_transfer_data,
)
from ringfence.core.errors import InputError, Result

REGTEST = Network.regtest
KEYS = [coincurve.PrivateKey(bytes([n]) * 32) for n in range(1, 6)]
PUBLIC = [key.public_key.format() for key in KEYS]
VAULT = SpendScript(tuple(PUBLIC[:3]), 2)
SINGLE = SpendScript((PUBLIC[3],))
OUTSIDER = SpendScript((PUBLIC[4],)).address(REGTEST)


def coin(n: int, amount: int, script: SpendScript = VAULT, wallet: str = "vault") -> Coin:
    return Coin(f"{n:02x}" * 32, n % 3, amount, script.address(REGTEST), wallet, script)


def order(amount: int = 20_000_000, fee_max: int = 100_000, **fields: object) -> SpendOrder:
    values: dict[str, object] = {
        "withdrawal_id": "w-1", "pool": "omni", "asset": "BTC", "amount": amount,
        "destination": OUTSIDER, "fee_max": fee_max, "wallet": "vault", "hold_transfer_id": 7,
    }  # fmt: skip
    values.update(fields)
    return SpendOrder(**values)  # type: ignore[arg-type]


CHANGE = Change(VAULT.address(REGTEST), "vault", VAULT)


# ---------------------------------------------------------------------- published vectors


def test_bip143_native_p2wpkh_vector() -> None:
    """BIP 143's "Native P2WPKH" example: the digest of its second input, through the same
    script code and embit call the signers use, and the BIP's own signature verifies."""
    unsigned = bytes.fromhex(
        "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeff"
        "ffffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02"
        "202cb206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976"
        "a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac11000000"
    )
    private = bytes.fromhex("619c335025c7f4012e556c2a58b2506e30b8511b53ade95ea316fd8c3286feb9")
    public = bytes.fromhex("025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee6357")
    signature = bytes.fromhex(
        "304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c45183"
        "31561406f90300e8f3358f51928d43c212a8caed02de67eebee"
    )
    program = bytes.fromhex("00141d0f172a0ecb48aee1be1f2687d2963ae33f71a1")
    transaction = Transaction.parse(unsigned)
    code = script_code(program, b"")
    assert code.hex() == "76a9141d0f172a0ecb48aee1be1f2687d2963ae33f71a188ac"
    digest = transaction.sighash_segwit(1, Script(code), 600_000_000)
    assert digest.hex() == "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670"
    assert coincurve.PrivateKey(private).public_key.format() == public
    assert coincurve.PublicKey(public).verify(signature, digest, hasher=None)
    r, s = _rs(signature)
    assert der_signature(r, s) == signature


def _rs(der: bytes) -> tuple[int, int]:
    r_length = der[3]
    r = int.from_bytes(der[4 : 4 + r_length], "big")
    return r, int.from_bytes(der[6 + r_length :], "big")


# ---------------------------------------------------------------------- Bitcoin


def test_a_spend_is_deterministic_pays_exactly_and_returns_change_to_the_pool() -> None:
    coins = [coin(1, 5_000_000), coin(2, 50_000_000), coin(3, 30_000_000)]
    first = build_bitcoin_spend(order(), coins, CHANGE, 10_000, REGTEST)
    again = build_bitcoin_spend(order(), list(reversed(coins)), CHANGE, 10_000, REGTEST)
    assert first == again  # the same coins in any order: the same transaction, byte for byte
    assert [c.amount for c in first.coins] == [50_000_000]  # largest first, and enough
    transaction = PSBT.parse(first.psbt).tx
    assert transaction.txid().hex() == first.spend_id
    assert [(o.value, o.script_pubkey.data) for o in transaction.vout] == [
        (20_000_000, script_pubkey_of(OUTSIDER, REGTEST)),
        (first.change, VAULT.script_pubkey()),
    ]
    assert first.fee + first.change + 20_000_000 == 50_000_000
    assert first.fee == fee_for(42 + 4 * 41 + 254 + 4 * 31 + 4 * 43, 10_000)


def test_change_below_dust_goes_to_the_fee() -> None:
    spend = build_bitcoin_spend(
        order(amount=49_999_400), [coin(1, 50_000_000)], CHANGE, 1000, REGTEST
    )
    assert spend.change == 0
    assert spend.fee == 600  # 411 sats of change would be dust
    assert len(PSBT.parse(spend.psbt).tx.vout) == 1


@pytest.mark.parametrize(
    ("spend_order", "rate", "code"),
    [
        (order(amount=90_000_000), 10_000, Result.spend_funds_insufficient),
        (order(fee_max=1_000), 10_000, Result.spend_fee_exceeds_bound),
        (order(), 999, Result.spend_fee_rate_invalid),
        (order(destination=VAULT.address(REGTEST)), 10_000, Result.spend_order_invalid),
        (order(destination="bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"), 10_000,
         Result.address_invalid_for_network),
        (order(amount=545), 10_000, Result.spend_order_invalid),
    ],
)  # fmt: skip
def test_what_cannot_be_built_is_refused(spend_order: SpendOrder, rate: int, code: Result) -> None:
    with pytest.raises(InputError) as refused:
        build_bitcoin_spend(spend_order, [coin(1, 50_000_000)], CHANGE, rate, REGTEST)
    assert refused.value.code is code


@pytest.mark.parametrize(
    "fields",
    [{"amount": 0}, {"amount": 1.5}, {"fee_max": -1}, {"withdrawal_id": ""},
     {"withdrawal_id": "a b"}, {"pool": "Omni"}, {"destination": "bc1 q"}, {"amount": 2**128}],
)  # fmt: skip
def test_an_order_is_refused_with_a_named_code(fields: dict[str, object]) -> None:
    with pytest.raises(InputError) as refused:
        order(**fields)
    assert refused.value.code in (Result.spend_order_invalid, Result.name_invalid)


def test_a_derived_wallet_spend_is_signed_by_any_psbt_signer_and_verifies() -> None:
    """An extended-key wallet's PSBT carries each key's origin, so a BIP 174 signer holding
    the master key (here embit's) finds and signs its inputs; the change goes to a fresh
    derived address of the same wallet, described so the signer recognises it as its own."""
    root = bip32.HDKey.from_seed(bytes(range(32)))
    fingerprint = root.my_fingerprint

    def script_at(index: int, change: int) -> SpendScript:
        path = (84 + 2**31, 1 + 2**31, 2**31, change, index)
        public = root.derive(list(path)).key.sec()
        return SpendScript((public,), 1, (KeyOrigin(public, fingerprint, path),))

    receive = script_at(0, 0)
    fresh_change = script_at(7, 1)
    coins = [Coin("ab" * 32, 1, 30_000_000, receive.address(REGTEST), "hd", receive)]
    change = Change(fresh_change.address(REGTEST), "hd", fresh_change)
    spend = build_bitcoin_spend(order(), coins, change, 2_000, REGTEST)
    psbt = PSBT.parse(spend.psbt)
    assert psbt.sign_with(root) == 1
    final = finalize_psbt(psbt)
    spent = {f"{'ab' * 32}:1": (receive.script_pubkey(), 30_000_000)}
    assert verify_bitcoin_transaction(final.serialize(), spent) == spend.spend_id
    assert PSBT.parse(spend.psbt).outputs[1].bip32_derivations  # the change is described


def test_a_finalised_vault_spend_verifies_and_a_tampered_one_does_not() -> None:
    spend = build_bitcoin_spend(order(), [coin(2, 50_000_000)], CHANGE, 10_000, REGTEST)
    owners = {VAULT.address(REGTEST): "omni"}
    utxos = {f"{'02' * 32}:2": (VAULT.address(REGTEST), 50_000_000)}
    check_bitcoin_spend(order(), spend.psbt, BitcoinFacts(owners, utxos, REGTEST, spend.spend_id))
    psbt = PSBT.parse(spend.psbt)
    for key in KEYS[:2]:
        psbt.sign_with(ec.PrivateKey(key.secret))
    raw = finalize_psbt(psbt).serialize()
    spent = {f"{'02' * 32}:2": (VAULT.script_pubkey(), 50_000_000)}
    assert verify_bitcoin_transaction(raw, spent) == spend.spend_id
    with pytest.raises(InputError) as refused:  # the amount BIP 143 signed is not the chain's
        verify_bitcoin_transaction(raw, {f"{'02' * 32}:2": (VAULT.script_pubkey(), 50_000_001)})
    assert refused.value.code is Result.spend_signature_invalid
    one_signature = PSBT.parse(spend.psbt)
    one_signature.sign_with(ec.PrivateKey(KEYS[0].secret))
    assert finalize_psbt(one_signature) is None


# ---------------------------------------------------------------------- Ethereum

SENDER = Account.from_key(b"\x07" * 32)
DESTINATION = "0x1111111111111111111111111111111111111111"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TERMS = EthereumTerms(31337, SENDER.address, 4, 21_000, 3 * 10**9, 10**9)


def test_an_ether_spend_is_eth_accounts_own_transaction() -> None:
    spend = build_ethereum_spend(order(asset="ETH", destination=DESTINATION, fee_max=10**15), TERMS)
    transaction = spend.transaction
    assert decode_unsigned(spend.unsigned) == transaction
    expected = SENDER.sign_transaction(transaction.as_dict())
    v, r, s = TypedTransaction.from_bytes(expected.raw_transaction).vrs()
    assert transaction.signed(v, r, s) == bytes(expected.raw_transaction)
    assert bytes.fromhex(spend.spend_id) == TypedTransaction.from_dict(transaction.as_dict()).hash()


def test_a_token_spend_calls_transfer_and_sends_no_ether() -> None:
    terms = EthereumTerms(31337, SENDER.address, 0, 60_000, 3 * 10**9, 10**9, TOKEN)
    spend = build_ethereum_spend(
        order(asset="USDC", destination=DESTINATION, fee_max=10**15), terms
    )
    assert spend.transaction.to == TOKEN
    assert spend.transaction.value == 0
    assert spend.transaction.data == token_transfer_data(DESTINATION, 20_000_000)
    assert spend.transaction.data.hex().startswith("a9059cbb" + "00" * 12 + "11" * 20)


@pytest.mark.parametrize(
    ("spend_order", "code"),
    [
        (order(asset="ETH", destination=DESTINATION, fee_max=21_000 * 3 * 10**9 - 1),
         Result.spend_fee_exceeds_bound),
        (order(asset="ETH", destination=SENDER.address, fee_max=10**15),
         Result.spend_order_invalid),
        (order(asset="ETH", destination="0x11111111111111111111111111111111111111", fee_max=10**15),
         Result.address_invalid_for_network),
        (order(asset="ETH", destination="0xAb11111111111111111111111111111111111111",
               fee_max=10**15), Result.address_invalid_for_network),
    ],
)  # fmt: skip
def test_what_cannot_be_sent_is_refused(spend_order: SpendOrder, code: Result) -> None:
    with pytest.raises(InputError) as refused:
        build_ethereum_spend(spend_order, TERMS)
    assert refused.value.code is code


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01\xc0", b"\x02\xc0", b"\x02" + bytes.fromhex("c9" + "80" * 9),
     SENDER.sign_transaction({
         "type": 2, "chainId": 1, "nonce": 0, "maxFeePerGas": 2, "maxPriorityFeePerGas": 1,
         "gas": 21_000, "to": DESTINATION, "value": 1}).raw_transaction],
)  # fmt: skip
def test_only_an_unsigned_eip1559_transaction_decodes(data: bytes) -> None:
    with pytest.raises(InputError) as refused:
        decode_unsigned(bytes(data))
    assert refused.value.code is Result.spend_malformed


def test_bip32_vectors_module_agrees_with_embit_on_derivation() -> None:
    """The origin paths the PSBT carries are BIP 32 paths: bip-utils and embit derive the same
    key from the same seed and path."""
    seed = bytes(range(32))
    path = "m/84'/1'/0'/1/7"
    ours = bip32.HDKey.from_seed(seed).derive(path).key.sec()
    theirs = Bip32Secp256k1.FromSeed(seed).DerivePath(path).PublicKey().RawCompressed().ToBytes()
    assert ours == theirs
