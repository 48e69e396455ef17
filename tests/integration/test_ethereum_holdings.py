"""The Ethereum holdings source against a real node (anvil): balances, inflows, failures.

Every transfer here is a real signed transaction mined by anvil; the helpers of
tests/support_anvil.py return what they sent, and the source must report exactly that.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests import support_anvil
from tests.support_anvil import AnvilNode, Sent, Token, free_port

from ringfence.adapters.chains.ethereum import EthereumHoldings
from ringfence.core.custody.holdings import Inflow
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result, SourceError

pytestmark = pytest.mark.chain

ETHER = 10**18

# Client deposit addresses (keys nobody holds), spelled as a registry might store them: one
# checksummed, one lowercase.
ALICE = "0x1111111111111111111111111111111111111111"
BOB = "0x2222222222222222222222222222222222222222"
CAROL = "0x000000000000000000000000000000000000c0DE"  # never paid
STRANGER = "0x3333333333333333333333333333333333333333"  # not watched
CLIENTS = (ALICE, BOB, CAROL)


def source_for(node: AnvilNode, tokens: dict[str, str], **options: Any) -> EthereumHoldings:
    return EthereumHoldings(node.url, "ETH", tokens, chain_id=node.chain_id, **options)


def expected_inflow(sent: Sent, asset: str, address: str, source: EthereumHoldings) -> tuple:
    return (sent.reference, address, asset, sent.amount, sent.sender, sent.height, source.name)


def as_tuple(inflow: Inflow) -> tuple:
    return (
        inflow.reference,
        inflow.address,
        inflow.asset,
        inflow.amount,
        inflow.sender,
        inflow.height,
        inflow.source,
    )


def fund_clients(node: AnvilNode) -> tuple[Token, Token, list[tuple[Sent, str, str]]]:
    """Two tokens and a mix of transfers to the clients (and one to a stranger); returns the
    tokens and, for each transfer to a client, (what was sent, asset code, address)."""
    usd = node.deploy_token("Test USD", "TUSD", decimals=6, supply=10**15)
    euro = node.deploy_token("Test EUR", "TEUR", decimals=18, supply=10**30)
    payer = node.new_account(5 * ETHER)  # a second sender, funded by a real transfer
    node.send_token(usd, payer.address, 9_000_000)
    sent = [
        (node.send_eth(ALICE, 2 * ETHER), "ETH", ALICE),
        (node.send_token(usd, ALICE, 1_250_000), "TUSD", ALICE),
        (node.send_eth(BOB, 7, sender=payer), "ETH", BOB),
        (node.send_token(euro, BOB, 3 * 10**18 + 1), "TEUR", BOB),
        (node.send_token(usd, BOB, 4_000_000, sender=payer), "TUSD", BOB),
    ]
    node.send_eth(STRANGER, ETHER)
    node.send_token(usd, STRANGER, 5)
    sent.append((node.send_eth(ALICE, ETHER // 2), "ETH", ALICE))
    return usd, euro, sent


def test_holdings_are_read_at_one_block(anvil_node: AnvilNode) -> None:
    usd, euro, _ = fund_clients(anvil_node)
    source = source_for(anvil_node, {usd.address: "TUSD", euro.address.lower(): "TEUR"})
    watched = [ALICE, BOB.lower(), CAROL]

    observations = source.holdings(watched)

    head = anvil_node.height()
    block = anvil_node.web3.eth.get_block(head)
    assert {(o.height, o.time_ns, o.source, o.chain) for o in observations} == {
        (head, block["timestamp"] * 10**9, source.name, Chain.ethereum)
    }
    assert source.name == f"ethereum-rpc:{anvil_node.url.removeprefix('http://')}"
    held = {(o.address, o.asset): o.amount for o in observations}
    assert held == {
        (ALICE, "ETH"): 2 * ETHER + ETHER // 2,
        (ALICE, "TUSD"): 1_250_000,
        (ALICE, "TEUR"): 0,
        (BOB.lower(), "ETH"): 7,
        (BOB.lower(), "TUSD"): 4_000_000,
        (BOB.lower(), "TEUR"): 3 * 10**18 + 1,
        (CAROL, "ETH"): 0,
        (CAROL, "TUSD"): 0,
        (CAROL, "TEUR"): 0,
    }
    assert source.holdings([]) == []


def test_holdings_with_confirmations_read_an_older_block(anvil_node: AnvilNode) -> None:
    first = anvil_node.send_eth(ALICE, ETHER)
    anvil_node.send_eth(ALICE, 3 * ETHER)
    anvil_node.send_eth(ALICE, 5 * ETHER)
    source = source_for(anvil_node, {}, confirmations=2)

    (observation,) = source.holdings([ALICE])

    assert (observation.height, observation.amount) == (first.height, ETHER)
    assert source.safe_height() == anvil_node.height() - 2


def test_inflows_name_each_transfer_once(anvil_node: AnvilNode) -> None:
    usd, euro, sent = fund_clients(anvil_node)
    source = source_for(anvil_node, {usd.address: "TUSD", euro.address: "TEUR"})

    inflows, covered = source.inflows(CLIENTS, 0)

    assert covered == anvil_node.height()
    expected = [expected_inflow(s, asset, address, source) for s, asset, address in sent]
    assert [as_tuple(inflow) for inflow in inflows] == expected  # in chain order
    assert [i.reference for i in inflows if i.asset != "ETH"] == [
        s.reference for s, asset, _ in sent if asset != "ETH"
    ]
    assert all(":" in i.reference for i in inflows if i.asset != "ETH")
    assert all(len(i.reference) == 66 for i in inflows if i.asset == "ETH")
    for inflow in inflows:
        block = anvil_node.web3.eth.get_block(inflow.height)
        assert inflow.time_ns == block["timestamp"] * 10**9
        assert inflow.chain is Chain.ethereum


def test_scanning_twice_and_in_pieces_gives_the_same_inflows(anvil_node: AnvilNode) -> None:
    usd, euro, _ = fund_clients(anvil_node)
    tokens = {usd.address: "TUSD", euro.address: "TEUR"}
    source = source_for(anvil_node, tokens)
    first, covered = source.inflows(CLIENTS, 0)

    assert source.inflows(CLIENTS, 0) == (first, covered)
    assert source_for(anvil_node, tokens).inflows(CLIENTS, 0) == (first, covered)  # a restart

    small_steps = source_for(anvil_node, tokens, scan_blocks_max=2)
    pieces: list[Inflow] = []
    start = 0
    while start <= small_steps.safe_height():
        found, last = small_steps.inflows(CLIENTS, start)
        assert last == min(start + 1, small_steps.safe_height())
        pieces += found
        start = last + 1
    assert pieces == first


def test_from_height_excludes_older_inflows(anvil_node: AnvilNode) -> None:
    usd, euro, sent = fund_clients(anvil_node)
    source = source_for(anvil_node, {usd.address: "TUSD", euro.address: "TEUR"})
    everything, covered = source.inflows(CLIENTS, 0)
    middle = sent[3][0].height

    later, later_covered = source.inflows(CLIENTS, middle)

    assert later_covered == covered
    assert later == [inflow for inflow in everything if inflow.height >= middle]
    assert 0 < len(later) < len(everything)
    # Nothing new since the last scan: nothing found, and the covered height stays put.
    assert source.inflows(CLIENTS, covered + 1) == ([], covered)
    # A new deposit shows in the next scan, and only there.
    late = anvil_node.send_eth(CAROL, 11)
    (inflow,), newly_covered = source.inflows(CLIENTS, covered + 1)
    assert (inflow.reference, inflow.address, inflow.amount) == (late.reference, CAROL, 11)
    assert newly_covered == late.height


def test_inflows_wait_for_confirmations(anvil_node: AnvilNode) -> None:
    source = source_for(anvil_node, {}, confirmations=3)
    anvil_node.mine(5)
    sent = anvil_node.send_eth(ALICE, ETHER)
    assert source.inflows([ALICE], 0) == ([], sent.height - 3)
    anvil_node.mine(3)
    inflows, covered = source.inflows([ALICE], 0)
    assert [i.reference for i in inflows] == [sent.reference]
    assert covered == sent.height


def test_reverted_and_zero_value_transfers_are_not_inflows(anvil_node: AnvilNode) -> None:
    usd = anvil_node.deploy_token()
    # The token refuses Ether (no receive function): mined, reverted, nothing moved.
    reverted = anvil_node.send_eth(usd.address, ETHER, gas=60_000, require_success=False)
    receipt = anvil_node.web3.eth.get_transaction_receipt(reverted.tx_hash)
    assert receipt["status"] == 0
    zero = anvil_node.send_token(usd, ALICE, 0)
    paid = anvil_node.send_token(usd, ALICE, 1)
    source = source_for(anvil_node, {usd.address: "TUSD"})

    inflows, _ = source.inflows([ALICE, usd.address], 0)

    assert [i.reference for i in inflows] == [paid.reference]
    assert zero.reference != paid.reference


def test_bad_input_is_refused_before_asking_the_node(anvil_node: AnvilNode) -> None:
    source = source_for(anvil_node, {})
    # EIP-55's example 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed with one letter's case flipped.
    wrong_checksum = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"
    for address in ["0x1234", ALICE[2:], "0x" + "g" * 40, wrong_checksum, ALICE + "00"]:
        with pytest.raises(InputError) as raised:
            source.holdings([address])
        assert raised.value.code is Result.address_invalid_for_network
    assert source.holdings([wrong_checksum.lower()])[0].amount == 0
    with pytest.raises(InputError) as raised:
        source.inflows([ALICE], -1)
    assert raised.value.code is Result.observation_point_invalid
    with pytest.raises(InputError) as raised:
        EthereumHoldings(anvil_node.url, "ETH", {ALICE: "TUSD", BOB: "TUSD"})
    assert raised.value.code is Result.source_asset_code_duplicate
    with pytest.raises(InputError) as raised:
        EthereumHoldings(anvil_node.url, "ETH", {}, confirmations=-1)
    assert raised.value.code is Result.source_confirmations_invalid


def test_a_node_that_cannot_answer_raises_source_error(anvil_node: AnvilNode) -> None:
    with pytest.raises(SourceError, match="chain 31337, not 1"):
        EthereumHoldings(anvil_node.url, "ETH", {}, chain_id=1).holdings([ALICE])
    # A token address with no contract behind it answers balanceOf with nothing.
    with pytest.raises(SourceError, match="not an ERC-20"):
        source_for(anvil_node, {STRANGER: "TUSD"}).holdings([ALICE])
    unreachable = EthereumHoldings(f"http://127.0.0.1:{free_port()}", "ETH", {})
    started = time.perf_counter()
    with pytest.raises(SourceError, match="Ethereum node failed"):
        unreachable.inflows([ALICE], 0)
    assert time.perf_counter() - started < 5  # no hidden retries


def test_node_stops_with_its_process_group(anvil_node: AnvilNode) -> None:
    assert anvil_node.start_s < 10
    source = source_for(anvil_node, {})
    assert source.safe_height() == 0
    anvil_node.stop()
    assert anvil_node.process.poll() is not None
    with pytest.raises(SourceError):
        source.holdings([ALICE])


def test_missing_anvil_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support_anvil, "ANVIL_PATH", support_anvil.REPOSITORY / "no/such/anvil")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="run `make tools`"):
        support_anvil.require_anvil()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="run `make tools`"):
        support_anvil.require_anvil()
