"""The signing service: a withdrawal's chain transaction built, checked, signed, broadcast and
confirmed (the ``WithdrawalChain`` port of service/ports.py).

Gather, decide, apply, at every step:

- ``build`` gathers the paying wallet's spendable outputs (the latest UTXO snapshot, at the
  address of the order's wallet of the pool, less outputs other open spends use) or the
  sender's nonce and fees (the Ethereum node), lets the core build the transaction
  (core/custody/spends.py, spends_ethereum.py) and keeps it bound to the withdrawal: one spend
  per withdrawal, and building again answers the same spend.
- ``sign`` lets every signer run the checks of core/custody/spend_checks.py itself, against
  facts gathered afresh (the registry's addresses, the snapshot's outputs), before asking its
  key (``ChainKey``: an HSM key) for a signature. A 2-of-3 vault's two signers each check and
  sign their own copy; the copies are combined only if they are of the same transaction and
  every signature verifies, then finalised (embit) and the transaction verified against the
  outputs it spends (``verify_bitcoin_transaction``). An Ethereum signature is assembled into
  the transaction by eth-account, which must recover the sender from it.
- ``broadcast`` sends a signed spend once; asked again, it answers the same txid and sends
  nothing (so a pass that lost its journal step after sending finds the spend sent, never
  refused and voided while the chain pays it).
- Before building, signing and sending, the ledger's hold of the withdrawal is read back
  (``check_hold``): still pending, out of the order's wallet and pool, of its asset and
  amount. The order is the lifecycle's word; the hold is the ledger's, and a withdrawal voided
  after its transaction was built or signed is never paid.
- ``fee_paid`` reads what the mined transaction paid the network (the receipt's gas, or the
  PSBT's inputs less its outputs), for the ledger to book as ``network_fee``.
- ``confirmations`` counts blocks: the node's receipt (Ethereum; a reverted transaction is
  ``spend_failed_on_chain``), or the snapshots (Bitcoin): the spend's own outputs at their
  height, else, for a spend with no output the snapshots list, the first snapshot in which
  all its inputs are gone.

Wallets are signed for only when configured (``WalletSigning``): a wallet with one fixed
address whose keys the service can ask. Extended-key wallets (BIP 84, xpub vaults) cannot be
signed by a PKCS#11 token, which has no BIP 32 derivation: their PSBTs are for an outside
signer (docs/spends.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from eth_hash.backends.pycryptodome import keccak256

from ringfence.core import limits
from ringfence.core.custody.addresses import Network
from ringfence.core.custody.registry import Chain, Scheme, WalletState
from ringfence.core.custody.spend_checks import (
    BitcoinFacts,
    EthereumFacts,
    HoldFacts,
    check_ethereum_spend,
    check_hold,
    psbt_fee,
)
from ringfence.core.custody.spends import (
    Change,
    Coin,
    SpendOrder,
    SpendRecord,
    SpendScript,
    SpendState,
    build_bitcoin_spend,
    outpoint,
)
from ringfence.core.custody.spends_ethereum import (
    EthereumTerms,
    address_of_key,
    build_ethereum_spend,
    checksummed,
    decode_unsigned,
    ether_gas_limit,
    token_transfer_data,
)
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import AccountClass
from ringfence.service.custody import CustodyService
from ringfence.service.ports import Broadcaster, ChainKey, EthereumNode, SpendStore, UtxoSnapshots
from ringfence.service.spend_signers import sign_bitcoin_spend


@dataclass(frozen=True, slots=True)
class WalletSigning:
    """How the service signs for one wallet: the keys it may ask (a vault's, in the order
    they are asked) and, for Bitcoin, the wallet's script, whose address must be the wallet's
    registered one."""

    wallet: str
    keys: tuple[ChainKey, ...]
    script: SpendScript | None = None


@dataclass(frozen=True, slots=True)
class BitcoinChain:
    snapshots: UtxoSnapshots
    broadcaster: Broadcaster
    network: Network
    fee_rate_sat_per_kvb: int


class SpendService:
    """The ``WithdrawalChain``: Bitcoin and Ethereum, chosen by the order's asset."""

    def __init__(
        self,
        custody: CustodyService,
        store: SpendStore,
        signing: Mapping[str, WalletSigning],
        bitcoin: BitcoinChain | None = None,
        ethereum: EthereumNode | None = None,
    ) -> None:
        self.custody = custody
        self.store = store
        self.signing = dict(signing)
        self.bitcoin = bitcoin
        self.ethereum = ethereum

    # ------------------------------------------------------------------ the port

    def build(self, order: SpendOrder) -> str:
        existing = self.store.for_withdrawal(order.withdrawal_id)
        if existing is not None and existing.state is not SpendState.abandoned:
            if (existing.pool, existing.asset) != (order.pool, order.asset):
                raise InputError(
                    Result.spend_order_invalid,
                    f"withdrawal {order.withdrawal_id} has a spend of {existing.asset} from "
                    f"{existing.pool}",
                )
            return existing.spend_id
        chain = self._chain_of(order)
        check_hold(order, self.hold_of(order))
        if chain is Chain.bitcoin:
            record = self._build_bitcoin(order)
        else:
            record = self._build_ethereum(order)
        self.store.put(record)
        return record.spend_id

    def sign(self, order: SpendOrder, spend_id: str) -> None:
        record = self._approved(order, spend_id)
        if record.state is not SpendState.built:
            return  # signed before: the same signatures stand
        check_hold(order, self.hold_of(order))
        if record.chain == Chain.bitcoin.value:
            signed, txid = self._sign_bitcoin(order, record)
        else:
            signed, txid = self._sign_ethereum(order, record)
        self.store.put(replace(record, state=SpendState.signed, signed=signed, txid=txid))

    def broadcast(self, order: SpendOrder, spend_id: str) -> str:
        record = self._approved(order, spend_id)
        if record.state is SpendState.built:
            raise InputError(Result.spend_not_signed, spend_id)
        if record.state is SpendState.broadcast:
            # Sent before, by a pass whose own journal step was lost (a crash, another
            # writer's append): the chain has it, so answer its txid and send nothing again.
            # A refusal here would have the lifecycle void the hold of a paid withdrawal.
            return record.txid
        check_hold(order, self.hold_of(order))
        if record.chain == Chain.bitcoin.value:
            self._bitcoin().broadcaster.broadcast(record.txid, record.signed)
        else:
            sent = self._ethereum().send(record.signed)
            assert sent.lower() == record.txid, (sent, record.txid)
        self.store.put(replace(record, state=SpendState.broadcast))
        return record.txid

    def confirmations(self, order: SpendOrder, txid: str) -> int:
        record = self.store.for_withdrawal(order.withdrawal_id)
        if record is None or record.txid != txid or record.state is not SpendState.broadcast:
            raise InputError(
                Result.spend_not_found, f"no broadcast spend {txid} of {order.withdrawal_id}"
            )
        if record.chain == Chain.ethereum.value:
            blocks, succeeded = self._ethereum().confirmations(txid)
            if not succeeded:
                raise InputError(Result.spend_failed_on_chain, f"{txid} reverted")
            return blocks
        return self._bitcoin_confirmations(record)

    def fee_paid(self, order: SpendOrder, txid: str) -> int:
        record = self.store.for_withdrawal(order.withdrawal_id)
        if record is None or record.txid != txid or record.state is not SpendState.broadcast:
            raise InputError(
                Result.spend_not_found, f"no broadcast spend {txid} of {order.withdrawal_id}"
            )
        if record.chain == Chain.ethereum.value:
            return self._ethereum().fee_paid(txid)
        return psbt_fee(record.unsigned)

    # ------------------------------------------------------------------ beyond the port

    def abandon(self, order: SpendOrder, spend_id: str) -> None:
        """Give up a spend never broadcast (its withdrawal failed or expired): its outputs or
        nonce become free for other spends, and building again for the withdrawal makes a
        new one."""
        record = self._approved(order, spend_id)
        if record.state is SpendState.broadcast:
            raise InputError(Result.spend_broadcast_replayed, f"{spend_id} is on its way")
        self.store.put(replace(record, state=SpendState.abandoned))

    def hold_of(self, order: SpendOrder) -> HoldFacts | None:
        """The ledger's pending transfer the order names, as the ledger has it now."""
        engine = self.custody.ledger.ledger
        pending = engine.pendings.get(order.hold_transfer_id)
        if pending is None:
            return None
        record = pending.record
        source = engine.accounts[record.credit_account].definition
        return HoldFacts(
            pending.status.name,
            record.amount,
            source.asset,
            source.owner,
            source.pool,
            source.account_class is AccountClass.custody,
        )

    def record(self, spend_id: str) -> SpendRecord:
        record = self.store.get(spend_id)
        if record is None:
            raise InputError(Result.spend_not_found, spend_id)
        return record

    # ------------------------------------------------------------------ shared

    def _chain_of(self, order: SpendOrder) -> Chain:
        asset = self.custody.ledger.ledger.assets.get(order.asset)
        if asset is None:
            raise InputError(Result.asset_not_found, order.asset)
        if order.pool not in self.custody.ledger.ledger.pools:
            raise InputError(Result.pool_not_found, order.pool)
        if asset.chain == Chain.bitcoin.value and self.bitcoin is not None:
            return Chain.bitcoin
        if asset.chain == Chain.ethereum.value and self.ethereum is not None:
            return Chain.ethereum
        raise InputError(Result.spend_asset_unsupported, f"{order.asset} on {asset.chain!r}")

    def _approved(self, order: SpendOrder, spend_id: str) -> SpendRecord:
        """The spend, if it is the one bound to the order's withdrawal; ``spend_not_approved``
        for any other (a different PSBT is never signed or sent for it)."""
        record = self.record(spend_id)
        bound = self.store.for_withdrawal(order.withdrawal_id)
        if (
            bound is None
            or bound.spend_id != spend_id
            or record.withdrawal_id != order.withdrawal_id
        ):
            raise InputError(
                Result.spend_not_approved,
                f"{spend_id} is not the spend bound to withdrawal {order.withdrawal_id}",
            )
        if (record.pool, record.asset) != (order.pool, order.asset):
            raise InputError(Result.spend_not_approved, f"{spend_id} is of another pool or asset")
        return record

    def _owners(self, lowercase: bool = False) -> dict[str, str]:
        """Every address of the firm → the pool its wallet is designated to ("" the house)."""
        registry = self.custody.registry
        return {
            (address.lower() if lowercase else address): registry.wallets[entry.wallet].pool
            for address, entry in registry.addresses.items()
        }

    def _signing_wallets(
        self, order: SpendOrder, chain: Chain
    ) -> list[tuple[WalletState, WalletSigning]]:
        """The order's wallet, if it is the pool's, on ``chain``, and the service holds its
        keys."""
        found = []
        for name in sorted(self.signing):
            state = self.custody.registry.wallets.get(name)
            if (
                name != order.wallet
                or state is None
                or state.pool != order.pool
                or state.wallet.chain is not chain
            ):
                continue
            if state.wallet.scheme is not Scheme.address:
                raise InputError(
                    Result.spend_keys_invalid, f"{name}: keys sign for fixed-address wallets"
                )
            found.append((state, self.signing[name]))
        return found

    def _bitcoin(self) -> BitcoinChain:
        if self.bitcoin is None:
            raise InputError(Result.spend_asset_unsupported, "no Bitcoin snapshots configured")
        return self.bitcoin

    def _ethereum(self) -> EthereumNode:
        if self.ethereum is None:
            raise InputError(Result.spend_asset_unsupported, "no Ethereum node configured")
        return self.ethereum

    # ------------------------------------------------------------------ Bitcoin

    def _utxos(self) -> dict[str, tuple[str, int]]:
        snapshots = self._bitcoin().snapshots.snapshots()
        if not snapshots:
            return {}
        utxos = snapshots[-1].utxos
        return {
            outpoint(txid, vout): (address, amount)
            for address, txid, vout, amount in zip(
                utxos.addresses, utxos.txids, utxos.vouts, utxos.amounts, strict=True
            )
        }

    def _build_bitcoin(self, order: SpendOrder) -> SpendRecord:
        bitcoin = self._bitcoin()
        wallets = self._signing_wallets(order, Chain.bitcoin)
        scripts: dict[str, tuple[str, SpendScript]] = {}
        for state, signing in wallets:
            address = state.wallet.keys[0]
            if signing.script is None or signing.script.address(bitcoin.network) != address:
                raise InputError(
                    Result.spend_keys_invalid, f"{state.wallet.name}: keys not of {address}"
                )
            scripts[address] = (state.wallet.name, signing.script)
        if not scripts:
            raise InputError(
                Result.spend_funds_insufficient,
                f"{order.wallet} is no Bitcoin wallet of {order.pool} with keys",
            )
        reserved = self._reserved_outpoints()
        coins = [
            Coin(key[:64], int(key[65:]), amount, address, *scripts[address])
            for key, (address, amount) in self._utxos().items()
            if address in scripts and key not in reserved and amount > 0
        ]
        (address,) = scripts  # the order's wallet: its change comes back to it
        change = Change(address, *scripts[address])
        spend = build_bitcoin_spend(
            order, coins, change, bitcoin.fee_rate_sat_per_kvb, bitcoin.network
        )
        return SpendRecord(
            spend.spend_id,
            order.withdrawal_id,
            Chain.bitcoin.value,
            order.pool,
            order.asset,
            spend.psbt,
            outpoints=tuple(outpoint(c.txid, c.vout) for c in spend.coins),
            wallets=tuple(sorted({c.wallet for c in spend.coins})),
        )

    def _reserved_outpoints(self) -> set[str]:
        return {
            key
            for record in self.store.records()
            if record.state is not SpendState.abandoned
            for key in record.outpoints
        }

    def _sign_bitcoin(self, order: SpendOrder, record: SpendRecord) -> tuple[bytes, str]:
        bitcoin = self._bitcoin()
        facts = BitcoinFacts(self._owners(), self._utxos(), bitcoin.network, record.spend_id)
        signers = [self.signing[name] for name in record.wallets if name in self.signing]
        return sign_bitcoin_spend(order, record.unsigned, facts, signers)

    def _bitcoin_confirmations(self, record: SpendRecord) -> int:
        snapshots = self._bitcoin().snapshots.snapshots()
        if not snapshots:
            return 0
        latest = snapshots[-1]
        utxos = latest.utxos
        heights = [
            h for txid, h in zip(utxos.txids, utxos.heights, strict=True) if txid == record.txid
        ]
        if heights:
            return latest.height - heights[0] + 1
        spent = set(record.outpoints)
        seen_unspent = False
        for snapshot in snapshots:
            present = set(map(outpoint, snapshot.utxos.txids, snapshot.utxos.vouts)) & spent
            if present == spent:
                seen_unspent = True
            elif seen_unspent and not present:
                return latest.height - snapshot.height + 1
        return 0

    # ------------------------------------------------------------------ Ethereum

    def _build_ethereum(self, order: SpendOrder) -> SpendRecord:
        node = self._ethereum()
        token = self.custody.ledger.ledger.assets[order.asset].contract
        max_fee, priority = node.fees()
        for state, signing in self._signing_wallets(order, Chain.ethereum):
            sender = self._sender_of(state, signing)
            to = token or order.destination
            data = b""
            if token:
                data = token_transfer_data(
                    checksummed(order.destination, "destination"), order.amount
                )
            value = 0 if token else order.amount
            gas = ether_gas_limit if not token else node.estimate_gas(sender, to, value, data)
            if token:
                gas = gas * (100 + limits.ethereum_gas_headroom_percent) // 100
            if not self._can_pay(node, sender, token, order.amount, gas * max_fee):
                continue
            terms = EthereumTerms(
                node.chain_id, sender, self._next_nonce(node, sender), gas, max_fee, priority, token
            )
            spend = build_ethereum_spend(order, terms)
            return SpendRecord(
                spend.spend_id,
                order.withdrawal_id,
                Chain.ethereum.value,
                order.pool,
                order.asset,
                spend.unsigned,
                sender=sender,
                nonce=terms.nonce,
                wallets=(state.wallet.name,),
            )
        raise InputError(
            Result.spend_funds_insufficient,
            f"{order.wallet} of {order.pool} has no keys here, or does not hold "
            f"{order.amount} {order.asset} and its gas",
        )

    def _sender_of(self, state: WalletState, signing: WalletSigning) -> str:
        public = signing.keys[0].public_key(compressed=False) if signing.keys else None
        address = state.wallet.keys[0]
        if public is None or address_of_key(public).lower() != address.lower():
            raise InputError(
                Result.spend_keys_invalid, f"{state.wallet.name}: key not of {address}"
            )
        return address_of_key(public)

    @staticmethod
    def _can_pay(node: EthereumNode, sender: str, token: str, amount: int, gas_wei: int) -> bool:
        ether = node.balance(sender)
        if token:
            return ether >= gas_wei and node.balance(sender, token) >= amount
        return ether >= amount + gas_wei

    def _next_nonce(self, node: EthereumNode, sender: str) -> int:
        """The node's next nonce, past any spend from ``sender`` built but not yet sent."""
        pending = [
            record.nonce + 1
            for record in self.store.records()
            if record.sender == sender and record.state in (SpendState.built, SpendState.signed)
        ]
        return max([node.nonce(sender), *pending])

    def _sign_ethereum(self, order: SpendOrder, record: SpendRecord) -> tuple[bytes, str]:
        node = self._ethereum()
        (wallet,) = record.wallets
        signing = self.signing.get(wallet)
        state = self.custody.registry.wallets.get(wallet)
        if signing is None or state is None:
            raise InputError(Result.spend_signers_insufficient, f"no key for {wallet}")
        sender = self._sender_of(state, signing)
        token = self.custody.ledger.ledger.assets[order.asset].contract
        facts = EthereumFacts(self._owners(lowercase=True), node.chain_id, record.spend_id, token)
        check_ethereum_spend(order, record.unsigned, sender, facts)
        transaction = decode_unsigned(record.unsigned)
        signature = signing.keys[0].sign_recoverable(transaction.signing_hash())
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
        signed = transaction.signed(signature[64], r, s)
        from eth_account import Account  # a second to import: only when Ethereum is signed

        if Account.recover_transaction(signed).lower() != sender.lower():
            raise InputError(Result.spend_signature_invalid, "the signature is not the sender's")
        return signed, "0x" + keccak256(signed).hex()
