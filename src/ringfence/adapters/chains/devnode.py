"""A local development Ethereum node for the demo: anvil, started and stopped here.

anvil is Foundry's development node (installed by the project's set-up from npm, see the
Makefile's ``tools``). The demo starts one on a free port, pays clients' derived deposit
addresses from anvil's first funded development account with real signed transactions, reads
them back through ``EthereumHoldings`` like any node, and stops it. Nothing here is used
against a real network: the development key is public (anvil's default mnemonic).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from eth_account import Account
from web3 import Web3

from ringfence.adapters.chains.ethereum import EthereumHoldings
from ringfence.service.ports import HoldingsSource

# anvil's first development account ("test test ... junk"), funded with 10,000 ETH on start.
development_key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
chain_id = 31337
start_timeout_s = 15.0
stop_timeout_s = 5.0
gas_price_wei = 2 * 10**9
_anvil_in_tools = ".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"


def anvil_path() -> Path | None:
    """``RINGFENCE_ANVIL``, else the project's ``.tools`` copy, else ``anvil`` on the PATH."""
    for candidate in (os.environ.get("RINGFENCE_ANVIL"), _anvil_in_tools, shutil.which("anvil")):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


class DevelopmentNode:
    """A running anvil with a holdings source over it and a way to pay an address."""

    def __init__(self, binary: Path) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        command = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--silent",
                   "--chain-id", str(chain_id)]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_until_listening()
        self._web3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 10}))
        self._payer = Account.from_key(development_key)
        payer = self._payer.address
        self._nonce = int(self._web3.eth.get_transaction_count(payer, "pending"))
        self.source: HoldingsSource = EthereumHoldings(
            self.url, "ETH", {}, name="ethereum-rpc:anvil"
        )

    def _wait_until_listening(self) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline and self._process.poll() is None:
            request = urllib.request.Request(
                self.url, data=body.encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=1):
                    return
            except OSError:
                time.sleep(0.01)
        self.close()
        raise RuntimeError(f"anvil did not start at {self.url}")

    def pay(self, address: str, wei: int) -> str:
        """Send ``wei`` to ``address`` in a signed transaction; the transaction hash (the
        inflow's reference) once mined."""
        transaction = {
            "chainId": chain_id, "nonce": self._nonce, "gas": 21_000,
            "maxFeePerGas": gas_price_wei * 10, "maxPriorityFeePerGas": gas_price_wei // 2,
            "type": 2, "to": Web3.to_checksum_address(address), "value": wei,
        }  # fmt: skip
        signed = self._payer.sign_transaction(transaction)
        sent = self._web3.eth.send_raw_transaction(signed.raw_transaction)
        self._nonce += 1
        receipt = self._web3.eth.wait_for_transaction_receipt(sent, timeout=10)
        if receipt["status"] != 1:
            raise RuntimeError(f"payment {sent.to_0x_hex()} reverted")
        return str(sent.to_0x_hex())

    def close(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=stop_timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=stop_timeout_s)
