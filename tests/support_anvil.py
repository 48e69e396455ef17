"""A real local Ethereum node for tests: anvil, started per test, and helpers that fund addresses.

anvil is Foundry's development node; the project's set-up installs it from npm (``make tools``)
at ``ANVIL_PATH``. Each test gets its own node on a free port in its own process group, so a
test's chain starts empty (apart from anvil's funded dev accounts) and nothing leaks between
tests or xdist workers. Without the binary the test is skipped, except under ``CI=true``, where
it fails: a CI run must not pass by skipping the real node.

Everything the helpers move is a real signed transaction (EIP-1559, signed offline with
eth-account and mined by anvil's automine), and each helper returns what it sent: a ``Sent``
with the transaction hash, sender, recipient, amount, block height and, for tokens, the log
index. A test on top (deposit detection, reconciliation) can therefore compare what the chain
adapter reports with what was really sent::

    def test_deposit(anvil_node: AnvilNode) -> None:
        token = anvil_node.deploy_token("Test USD", "TUSD", decimals=6, supply=10**12)
        sent = [anvil_node.send_eth(alice, 10**18), anvil_node.send_token(token, alice, 5_000)]
        ...  # each Sent has .reference: the Inflow reference the adapter must report

The fixture is ``anvil_node`` (tests/integration/conftest.py makes it available to every
integration test; elsewhere import it from this module).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

REPOSITORY = Path(__file__).resolve().parent.parent
ANVIL_PATH = REPOSITORY / ".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
TOKEN_DATA = REPOSITORY / "tests/data/erc20"

# anvil's first dev account, derived from its published default mnemonic ("test test test test
# test test test test test test test junk"); anvil funds it with 10,000 ETH on every start.
DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

CHAIN_ID = 31337  # anvil's default; fixed so signed transactions name it
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
START_ATTEMPTS = 3  # a free port can be taken by another process between probe and bind
GAS_PRICE_WEI = 2 * 10**9
PRIORITY_FEE_WEI = 10**9


@dataclass(frozen=True, slots=True)
class Sent:
    """One transfer a helper made: ETH (``token`` empty, ``log_index`` -1) or a token."""

    tx_hash: str  # 0x-prefixed lowercase hex
    sender: str  # checksummed
    to: str  # checksummed
    amount: int  # wei or token units
    height: int
    token: str = ""  # the token contract's checksummed address
    log_index: int = -1

    @property
    def reference(self) -> str:
        """The chain reference an ``Inflow`` for this transfer carries."""
        return self.tx_hash if not self.token else f"{self.tx_hash}:{self.log_index}"


@dataclass(frozen=True, slots=True)
class Token:
    address: str  # checksummed
    symbol: str
    decimals: int
    deployer: str
    height: int


def token_abi() -> list[dict[str, Any]]:
    abi: list[dict[str, Any]] = json.loads((TOKEN_DATA / "TestToken.abi").read_text())
    return abi


def token_bytecode() -> str:
    return "0x" + (TOKEN_DATA / "TestToken.bin").read_text().strip()


class AnvilNode:
    """A running anvil and a web3 connection to it, with funding helpers.

    ``funder`` (anvil's first dev account) pays for everything unless a helper is given another
    ``sender``; nonces are counted here, so helpers may be called back to back.
    """

    def __init__(self, process: subprocess.Popen[bytes], url: str, start_s: float) -> None:
        self.process = process
        self.url = url
        self.start_s = start_s  # launch to first eth_chainId reply
        self.web3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
        self.chain_id = CHAIN_ID
        self.funder: LocalAccount = Account.from_key(DEV_PRIVATE_KEY)
        assert self.funder.address == DEV_ADDRESS
        self._nonces: dict[str, int] = {}

    # ------------------------------------------------------------------ chain state

    def height(self) -> int:
        return int(self.web3.eth.block_number)

    def mine(self, blocks: int = 1) -> int:
        """Mines ``blocks`` empty blocks; returns the new height."""
        self.web3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]
        return self.height()

    def set_balance(self, address: str, wei: int) -> None:
        """Sets a balance by fiat (no transaction, so no inflow): for fee-paying senders."""
        self.web3.provider.make_request(
            "anvil_setBalance",  # type: ignore[arg-type]
            [Web3.to_checksum_address(address), hex(wei)],
        )

    def new_account(self, wei: int = 10**20) -> LocalAccount:
        """A fresh key pair, funded by a real transfer from ``funder`` so it can pay gas."""
        account: LocalAccount = Account.from_key("0x" + secrets.token_hex(32))
        if wei:
            self.send_eth(account.address, wei)
        return account

    # ------------------------------------------------------------------ transfers

    def send_eth(
        self,
        to: str,
        wei: int,
        sender: LocalAccount | None = None,
        *,
        gas: int = 21_000,
        require_success: bool = True,
    ) -> Sent:
        """Sends ``wei`` to ``to`` in a signed transaction; returns what was mined. With
        ``require_success=False`` the transaction may revert (sending to a contract that
        refuses Ether): it is mined, pays gas, and moves no value."""
        account = sender or self.funder
        fields = {"to": Web3.to_checksum_address(to), "value": wei}
        receipt = self._transact(account, fields, gas=gas, require_success=require_success)
        return Sent(
            tx_hash=receipt["transactionHash"].to_0x_hex(),
            sender=account.address,
            to=Web3.to_checksum_address(to),
            amount=wei,
            height=receipt["blockNumber"],
        )

    def deploy_token(
        self,
        name: str = "Test USD",
        symbol: str = "TUSD",
        decimals: int = 6,
        supply: int = 10**15,
        sender: LocalAccount | None = None,
    ) -> Token:
        """Deploys ``TestToken`` with ``supply`` units, all held by the deployer."""
        account = sender or self.funder
        factory = self.web3.eth.contract(abi=token_abi(), bytecode=token_bytecode())
        data = factory.constructor(name, symbol, decimals, supply).data_in_transaction
        receipt = self._transact(account, {"data": data}, gas=2_000_000)
        address = receipt["contractAddress"]
        assert address is not None
        return Token(str(address), symbol, decimals, account.address, receipt["blockNumber"])

    def send_token(
        self, token: Token, to: str, units: int, sender: LocalAccount | None = None
    ) -> Sent:
        """Transfers ``units`` of ``token`` to ``to`` with ``transfer()``; returns the
        transfer as its ``Transfer`` log records it."""
        account = sender or self.funder
        contract = self.token_contract(token)
        to_checksummed = Web3.to_checksum_address(to)
        data = contract.encode_abi("transfer", args=[to_checksummed, units])
        receipt = self._transact(account, {"to": token.address, "data": data}, gas=200_000)
        (log,) = contract.events.Transfer().process_receipt(receipt)
        assert log["args"]["to"] == to_checksummed
        assert log["args"]["value"] == units
        return Sent(
            tx_hash=receipt["transactionHash"].to_0x_hex(),
            sender=account.address,
            to=to_checksummed,
            amount=units,
            height=receipt["blockNumber"],
            token=token.address,
            log_index=log["logIndex"],
        )

    def token_contract(self, token: Token) -> Contract:
        return self.web3.eth.contract(
            address=Web3.to_checksum_address(token.address), abi=token_abi()
        )

    def _transact(
        self,
        account: LocalAccount,
        fields: dict[str, Any],
        gas: int = 21_000,
        require_success: bool = True,
    ) -> Any:
        """Signs, sends and waits for one EIP-1559 transaction; asserts it succeeded unless
        told it may revert."""
        nonce = self._nonces.get(account.address)
        if nonce is None:
            nonce = self.web3.eth.get_transaction_count(account.address, "pending")
        transaction = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": GAS_PRICE_WEI * 10,
            "maxPriorityFeePerGas": PRIORITY_FEE_WEI,
            "type": 2,
            **fields,
        }
        signed = account.sign_transaction(transaction)
        tx_hash = self.web3.eth.send_raw_transaction(signed.raw_transaction)
        self._nonces[account.address] = nonce + 1
        receipt = self.web3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
        if require_success:
            assert receipt["status"] == 1, f"transaction {tx_hash.to_0x_hex()} reverted"
        return receipt

    # ------------------------------------------------------------------ process

    def stop(self) -> str:
        """Ends anvil's process group (SIGTERM, then SIGKILL if it lingers); returns what it
        wrote on stderr (nothing, normally: it runs with ``--silent``)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_S)
        error = ""
        if self.process.stderr is not None and not self.process.stderr.closed:
            error = self.process.stderr.read().decode(errors="replace")
            self.process.stderr.close()
        return error


def die_with_parent() -> list[str]:
    """A prefix that makes the kernel send anvil SIGTERM when the test process dies, so a
    killed run (a crashed xdist worker) leaves no node behind: util-linux's ``setpriv`` (in
    every Debian) sets the parent-death signal and then executes anvil in the same process.
    Without it, anvil runs as is and only the fixture's teardown stops it."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def chain_id_reply(url: str) -> int | None:
    """anvil's ``eth_chainId``, or ``None`` while it is not yet listening."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return int(json.loads(response.read())["result"], 16)
    except OSError:
        return None


def anvil_missing_reason() -> str | None:
    if os.access(ANVIL_PATH, os.X_OK):
        return None
    return f"anvil is not installed at {ANVIL_PATH}: run `make tools`"


def start_anvil(chain_id: int = CHAIN_ID) -> AnvilNode:
    """Starts anvil on a free port in a new process group and waits until it answers."""
    problems = []
    for _attempt in range(START_ATTEMPTS):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            *die_with_parent(),
            str(ANVIL_PATH),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--silent",
            "--chain-id",
            str(chain_id),
        ]
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        node = AnvilNode(process, url, 0.0)
        deadline = started + START_TIMEOUT_S
        while process.poll() is None and time.perf_counter() < deadline:
            reply = chain_id_reply(url)
            if reply is not None:
                assert reply == chain_id, f"anvil answered chain id {reply}, not {chain_id}"
                node.start_s = time.perf_counter() - started
                return node
            time.sleep(0.01)
        exit_status = process.poll()  # None: alive but silent until the deadline
        error = node.stop()
        problems.append(f"port {port}: exit status {exit_status}: {error.strip()[:500]}")
    raise RuntimeError("anvil did not start: " + "; ".join(problems))


def require_anvil() -> None:
    """Skips the test without anvil, or fails it under ``CI=true``."""
    reason = anvil_missing_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the chain tests must run)")
    pytest.skip(reason)


@pytest.fixture
def anvil_node() -> Iterator[AnvilNode]:
    """A fresh anvil node for this test, stopped (its whole process group) afterwards."""
    require_anvil()
    node = start_anvil()
    try:
        yield node
    finally:
        node.stop()
