"""Ethereum holdings and inflows over JSON-RPC (web3.py): a ``HoldingsSource``.

``holdings(addresses)`` reads, at one pinned block, each address's Ether balance
(``eth_getBalance``) and its balance of every configured ERC-20 token (``balanceOf`` through
``eth_call``). The block is ``confirmations`` below the node's head and every read names it by
hash (EIP-1898), so all observations of one call describe the same state even if the head moves
meanwhile; a block reorganised away makes the node refuse, and the call raises ``SourceError``.

``inflows(addresses, from_height)`` scans blocks ``from_height`` up to ``confirmations`` below
the head (at most ``limits.ethereum_scan_blocks_max`` per call; call again from the returned
height + 1 until it reaches ``safe_height()``):

- Ether: every successful transaction (receipt status 1) that sends a non-zero value to a
  watched address; the reference is the transaction hash (``0x`` and 64 lowercase hex digits).
- Tokens: every ERC-20 ``Transfer(from, to, value)`` log of a configured token contract with a
  watched ``to`` and a non-zero value, found with ``eth_getLogs`` filtered on the event topic and
  the recipients; the reference is ``<transaction hash>:<log index>`` (the index in its block).

Each inflow carries the sender (the transaction's ``from``, or the log's ``from``), the height
and the block's time. Scanning the same blocks again returns the same inflows: the references
make deposit detection idempotent downstream.

Not seen: Ether moved to a watched address by a contract (an internal call, such as a Safe
paying out) leaves no transaction or log and would need a node's tracing API, which nodes do
not offer alike; such a credit still shows in ``holdings``, so reconciliation finds it as a
difference to explain. Tokens that move balances without a ``Transfer`` log (non-compliant
or rebasing tokens) are seen only through ``holdings`` for the same reason.

Addresses are reported exactly as the caller gave them (checksummed or lowercase), so they match
the registry's keys. Amounts are exact integers: wei, or the token's smallest unit.

Errors: a malformed address or configuration is an ``InputError`` (nothing was asked of the
node); an unreachable node, an RPC error, a node on another chain than ``chain_id``, or an
inconsistent answer is a ``SourceError``. Nothing is retried here: a scan is idempotent, so the
caller retries it from where the last good one ended.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from eth_typing import ChecksumAddress
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import Web3Exception

from ringfence.core import limits
from ringfence.core.custody.holdings import Inflow, Observation
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result, SourceError

# keccak256("Transfer(address,address,uint256)"): topic 0 of every ERC-20 Transfer log.
transfer_topic: Final = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
# The first four bytes of keccak256("balanceOf(address)").
balance_of_selector: Final = "0x70a08231"
assert keccak(text="balanceOf(address)")[:4].hex() == balance_of_selector[2:]

request_timeout_s_default: Final = 10.0


@dataclass(frozen=True, slots=True)
class BlockPoint:
    height: int
    hash: str  # 0x-prefixed lowercase hex
    time_ns: int


class EthereumHoldings:
    """Holdings and inflows of Ether and ERC-20 tokens from one Ethereum JSON-RPC node.

    ``native_asset`` is the asset code of Ether (``"ETH"``); ``tokens`` maps each ERC-20
    contract address to its asset code. ``confirmations`` keeps reads that many blocks below the
    head (0: the head itself). ``chain_id``, when given, is checked against the node's on first
    use, so a source pointed at the wrong network fails instead of reporting its balances.
    ``name`` goes into every observation's ``source``; by default ``ethereum-rpc:<host:port>``
    (never the URL's path or query, which often hold a provider's API key).
    """

    def __init__(
        self,
        rpc_url: str,
        native_asset: str,
        tokens: Mapping[str, str],
        confirmations: int = 0,
        *,
        chain_id: int | None = None,
        name: str = "",
        request_timeout_s: float = request_timeout_s_default,
        scan_blocks_max: int = limits.ethereum_scan_blocks_max,
    ) -> None:
        confirmations_max = limits.ethereum_confirmations_max
        if type(confirmations) is not int or not 0 <= confirmations <= confirmations_max:
            raise InputError(Result.source_confirmations_invalid, repr(confirmations))
        assert 0 < scan_blocks_max <= limits.ethereum_scan_blocks_max
        self.native_asset = native_asset
        self.tokens = {checksummed(address): code for address, code in tokens.items()}
        codes = [native_asset, *tokens.values()]
        if len(self.tokens) != len(tokens) or len(set(codes)) != len(codes):
            # Two contracts under one code would add up unrelated balances.
            raise InputError(Result.source_asset_code_duplicate, ", ".join(codes))
        self.confirmations = confirmations
        self.chain_id = chain_id
        self.scan_blocks_max = scan_blocks_max
        self.name = name or f"ethereum-rpc:{urlsplit(rpc_url).netloc.rpartition('@')[2]}"
        provider = Web3.HTTPProvider(
            rpc_url,
            request_kwargs={"timeout": request_timeout_s},
            exception_retry_configuration=None,
        )
        self.web3 = Web3(provider)
        self._chain_checked = chain_id is None

    # ------------------------------------------------------------------ the port

    def holdings(self, addresses: Collection[str]) -> list[Observation]:
        """Ether and token balances of ``addresses`` at one block, zero balances included (an
        explicit zero is what reconciliation compares a book balance with)."""
        given = watched(addresses)
        if not given:
            return []
        point = self._block_point(self.safe_height())
        reads: list[tuple[str, str, Callable[[], Any]]] = []
        for address in given.values():
            target = checksummed(address)
            reads.append((address, self.native_asset, self._balance_call(target, point)))
            for token, code in self.tokens.items():
                reads.append((address, code, self._token_balance_call(token, target, point)))
        answers = self._batch([call for _, _, call in reads], "balances")
        observations = []
        for (address, asset, _), answer in zip(reads, answers, strict=True):
            amount = answer if asset == self.native_asset else token_amount(answer, asset)
            observations.append(
                Observation(
                    Chain.ethereum,
                    address,
                    asset,
                    int(amount),
                    point.height,
                    point.time_ns,
                    self.name,
                )
            )
        return observations

    def inflows(self, addresses: Collection[str], from_height: int) -> tuple[list[Inflow], int]:
        """Ether and token credits to ``addresses`` in blocks ``from_height`` and above, and
        the last height covered; ``from_height - 1`` when no new block is final yet."""
        if type(from_height) is not int or not 0 <= from_height <= limits.block_height_max:
            raise InputError(Result.observation_point_invalid, repr(from_height))
        given = watched(addresses)
        last = min(self.safe_height(), from_height + self.scan_blocks_max - 1)
        if last < from_height:
            return [], from_height - 1
        if not given:
            return [], last  # nothing to look for in these blocks
        heights = range(from_height, last + 1)
        blocks = self._batch([self._block_call(h, True) for h in heights], "blocks")
        points = {h: point_of(block) for h, block in zip(heights, blocks, strict=True)}
        found = self._ether_inflows(given, blocks, points)
        found += self._token_inflows(given, heights, points)
        found.sort(key=lambda item: item[0])
        return [inflow for _, inflow in found], last

    # ------------------------------------------------------------------ more than the port

    def safe_height(self) -> int:
        """The highest block read: ``confirmations`` below the node's head (0 at the least)."""
        self._check_chain()
        with rpc_errors("eth_blockNumber"):
            head = int(self.web3.eth.block_number)
        return max(head - self.confirmations, 0)

    def recent_block_hashes(self, count: int) -> list[str]:
        """The hashes of the ``count`` blocks up to ``safe_height()``, newest first, as 64
        lowercase hex digits without ``0x``: what a proof-of-control challenge may name."""
        assert 0 < count <= limits.control_recent_blocks_max
        top = self.safe_height()
        heights = range(top, max(top - count, -1), -1)
        blocks = self._batch([self._block_call(h, False) for h in heights], "blocks")
        return [point_of(block).hash[2:] for block in blocks]

    # ------------------------------------------------------------------ scanning

    def _ether_inflows(
        self, given: Mapping[str, str], blocks: Sequence[Any], points: Mapping[int, BlockPoint]
    ) -> list[tuple[tuple[int, int, int], Inflow]]:
        candidates = [
            transaction
            for block in blocks
            for transaction in block["transactions"]
            if transaction.get("to")
            and transaction["to"].lower() in given
            and transaction["value"] > 0
        ]
        receipts = self._batch(
            [self._receipt_call(t["hash"]) for t in candidates], "transaction receipts"
        )
        found = []
        for transaction, receipt in zip(candidates, receipts, strict=True):
            if receipt is None or receipt["blockHash"] != transaction["blockHash"]:
                raise SourceError(f"receipt of {transaction['hash'].to_0x_hex()} moved: reorg?")
            if receipt["status"] != 1:
                continue  # reverted: the value never moved
            point = points[transaction["blockNumber"]]
            inflow = Inflow(
                Chain.ethereum,
                given[transaction["to"].lower()],
                self.native_asset,
                int(transaction["value"]),
                transaction["hash"].to_0x_hex(),
                str(transaction["from"]),
                point.height,
                point.time_ns,
                self.name,
            )
            found.append(((point.height, 0, int(transaction["transactionIndex"])), inflow))
        return found

    def _token_inflows(
        self, given: Mapping[str, str], heights: range, points: Mapping[int, BlockPoint]
    ) -> list[tuple[tuple[int, int, int], Inflow]]:
        if not self.tokens or not given:
            return []
        found = []
        recipients = [address_topic(address) for address in given]
        step = limits.ethereum_log_filter_addresses_max
        for start in range(0, len(recipients), step):
            logs = self._logs(heights, recipients[start : start + step])
            for log in logs:
                inflow = self._token_inflow(log, given, points)
                if inflow is not None:
                    found.append(((inflow.height, 1, int(log["logIndex"])), inflow))
        return found

    def _logs(self, heights: range, recipients: list[str]) -> list[Any]:
        criteria: Any = {
            "fromBlock": heights.start,
            "toBlock": heights.stop - 1,
            "address": list(self.tokens),
            "topics": [transfer_topic, None, recipients],
        }
        with rpc_errors("eth_getLogs"):
            return list(self.web3.eth.get_logs(criteria))

    def _token_inflow(
        self, log: Any, given: Mapping[str, str], points: Mapping[int, BlockPoint]
    ) -> Inflow | None:
        """The inflow a ``Transfer`` log records, or ``None`` for one that moves nothing."""
        topics = log["topics"]
        if log.get("removed") or len(topics) != 3 or len(log["data"]) != 32:
            return None  # not the ERC-20 shape (an ERC-721 Transfer has 4 topics)
        point = points.get(int(log["blockNumber"]))
        if point is None or log["blockHash"].to_0x_hex() != point.hash:
            raise SourceError(f"log in block {log['blockNumber']} not on the scanned chain: reorg?")
        recipient = "0x" + topics[2][-20:].hex()
        amount = int.from_bytes(log["data"], "big")
        if amount == 0 or recipient not in given:
            return None  # zero-value transfers are noise (and a known spam pattern)
        return Inflow(
            Chain.ethereum,
            given[recipient],
            self.tokens[checksummed(str(log["address"]))],
            amount,
            f"{log['transactionHash'].to_0x_hex()}:{int(log['logIndex'])}",
            Web3.to_checksum_address("0x" + topics[1][-20:].hex()),
            point.height,
            point.time_ns,
            self.name,
        )

    # ------------------------------------------------------------------ RPC plumbing

    def _check_chain(self) -> None:
        if self._chain_checked:
            return
        with rpc_errors("eth_chainId"):
            chain_id = int(self.web3.eth.chain_id)
        if chain_id != self.chain_id:
            raise SourceError(f"{self.name} is chain {chain_id}, not {self.chain_id}")
        self._chain_checked = True

    def _block_point(self, height: int) -> BlockPoint:
        (block,) = self._batch([self._block_call(height, False)], "block")
        return point_of(block)

    def _block_call(self, height: int, full: bool) -> Callable[[], Any]:
        return lambda: self.web3.eth.get_block(height, full_transactions=full)

    def _receipt_call(self, tx_hash: Any) -> Callable[[], Any]:
        return lambda: self.web3.eth.get_transaction_receipt(tx_hash)

    def _balance_call(self, address: ChecksumAddress, point: BlockPoint) -> Callable[[], Any]:
        block: Any = {"blockHash": point.hash}
        return lambda: self.web3.eth.get_balance(address, block_identifier=block)

    def _token_balance_call(self, token: str, address: str, point: BlockPoint) -> Callable[[], Any]:
        data = balance_of_selector + address_topic(address)[2:]
        block: Any = {"blockHash": point.hash}
        request: Any = {"to": token, "data": data}
        return lambda: self.web3.eth.call(request, block_identifier=block)

    def _batch(self, calls: Sequence[Callable[[], Any]], what: str) -> list[Any]:
        """Runs ``calls`` (each one web3 request) in JSON-RPC batches; answers in order."""
        answers: list[Any] = []
        step = limits.ethereum_rpc_batch_requests_max
        for start in range(0, len(calls), step):
            with rpc_errors(what), self.web3.batch_requests() as batch:
                for call in calls[start : start + step]:
                    batch.add(call())
                answers.extend(batch.execute())
        assert len(answers) == len(calls)
        return answers


@contextmanager
def rpc_errors(what: str) -> Iterator[None]:
    """Turns the transport's and the node's failures into ``SourceError``. ``OSError`` covers
    the HTTP layer (requests' exceptions derive from it): refused, reset, timed out."""
    try:
        yield
    except (OSError, Web3Exception) as error:
        raise SourceError(f"Ethereum node failed reading {what}: {error}") from error


def checksummed(address: object) -> ChecksumAddress:
    """The EIP-55 form of an address. A mixed-case address must carry a valid checksum, so a
    mistyped one is refused rather than watched (web3's ``is_address`` does not check it)."""
    if not isinstance(address, str) or len(address) != 42 or not Web3.is_address(address):
        raise InputError(Result.address_invalid_for_network, f"ethereum address {address!r}")
    digits = address[2:]
    mixed_case = digits not in (digits.lower(), digits.upper())
    if mixed_case and not Web3.is_checksum_address(address):
        raise InputError(Result.address_invalid_for_network, f"checksum of {address!r}")
    return Web3.to_checksum_address(address)


def watched(addresses: Collection[str]) -> dict[str, str]:
    """Lowercase address → the address as the caller wrote it."""
    assert len(addresses) <= limits.addresses_max
    given = {}
    for address in addresses:
        checksummed(address)
        given[address.lower()] = address
    return given


def address_topic(address: str) -> str:
    """An address as a 32-byte log topic (left-padded with zeros), lowercase hex."""
    return "0x" + "0" * 24 + address.lower()[2:]


def point_of(block: Any) -> BlockPoint:
    if block is None:
        raise SourceError("the node does not have a block it reported: reorg?")
    return BlockPoint(
        int(block["number"]), block["hash"].to_0x_hex(), int(block["timestamp"]) * 10**9
    )


def token_amount(answer: Any, asset: str) -> int:
    """A ``balanceOf`` answer: one 32-byte unsigned integer."""
    if len(answer) != 32:
        raise SourceError(f"balanceOf of {asset} answered {len(answer)} bytes: not an ERC-20?")
    return int.from_bytes(answer, "big")
