"""What a spend needs from an Ethereum node, over JSON-RPC (web3.py): the ``EthereumNode``.

Nonces count pending transactions (``eth_getTransactionCount`` at ``pending``), so spends
built back to back from one address take successive nonces. Fees follow EIP-1559 as wallets
offer them: the node's suggested priority fee (``eth_maxPriorityFeePerGas``), and a fee cap of
twice the latest base fee plus that tip, which stays valid through six full blocks of base fee
rises (each at most 12.5%). Balances are read at the head: they decide only which of a pool's
wallets can pay; the ledger hold and the signer's checks are what protect the clients.

Failures of the node (unreachable, an RPC error, a node on another chain) are ``SourceError``.
"""

from __future__ import annotations

from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound

from ringfence.adapters.chains.ethereum import balance_of_selector, checksummed, rpc_errors
from ringfence.core.errors import SourceError

request_timeout_s_default = 10.0


class EthereumSpendNode:
    def __init__(
        self, rpc_url: str, chain_id: int, request_timeout_s: float = request_timeout_s_default
    ) -> None:
        provider = Web3.HTTPProvider(
            rpc_url,
            request_kwargs={"timeout": request_timeout_s},
            exception_retry_configuration=None,
        )
        self.web3 = Web3(provider)
        self.chain_id = chain_id
        self._chain_checked = False

    def nonce(self, address: str) -> int:
        self._check_chain()
        with rpc_errors("eth_getTransactionCount"):
            return int(self.web3.eth.get_transaction_count(checksummed(address), "pending"))

    def fees(self) -> tuple[int, int]:
        self._check_chain()
        with rpc_errors("fees"):
            base_fee = int(self.web3.eth.get_block("latest")["baseFeePerGas"])
            priority = int(self.web3.eth.max_priority_fee)
        return 2 * base_fee + priority, priority

    def estimate_gas(self, sender: str, to: str, value: int, data: bytes) -> int:
        request: Any = {
            "from": checksummed(sender),
            "to": checksummed(to),
            "value": value,
            "data": HexBytes(data),
        }
        with rpc_errors("eth_estimateGas"):
            return int(self.web3.eth.estimate_gas(request))

    def balance(self, address: str, token_contract: str = "") -> int:
        self._check_chain()
        target = checksummed(address)
        if not token_contract:
            with rpc_errors("eth_getBalance"):
                return int(self.web3.eth.get_balance(target))
        request: Any = {
            "to": checksummed(token_contract),
            "data": balance_of_selector + "0" * 24 + target[2:].lower(),
        }
        with rpc_errors("balanceOf"):
            answer = bytes(self.web3.eth.call(request))
        if len(answer) != 32:
            raise SourceError(f"balanceOf at {token_contract} answered {len(answer)} bytes")
        return int.from_bytes(answer, "big")

    def send(self, raw: bytes) -> str:
        self._check_chain()
        with rpc_errors("eth_sendRawTransaction"):
            return str(self.web3.eth.send_raw_transaction(raw).to_0x_hex())

    def confirmations(self, tx_hash: str) -> tuple[int, bool]:
        try:
            with rpc_errors("eth_getTransactionReceipt"):
                receipt = self.web3.eth.get_transaction_receipt(HexBytes(tx_hash))
                head = int(self.web3.eth.block_number)
        except SourceError as error:
            if isinstance(error.__cause__, TransactionNotFound):
                return 0, True  # not mined yet
            raise
        return head - int(receipt["blockNumber"]) + 1, receipt["status"] == 1

    def fee_paid(self, tx_hash: str) -> int:
        with rpc_errors("eth_getTransactionReceipt"):
            receipt = self.web3.eth.get_transaction_receipt(HexBytes(tx_hash))
        return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])

    def _check_chain(self) -> None:
        if self._chain_checked:
            return
        with rpc_errors("eth_chainId"):
            chain_id = int(self.web3.eth.chain_id)
        if chain_id != self.chain_id:
            raise SourceError(f"the node is chain {chain_id}, not {self.chain_id}")
        self._chain_checked = True
