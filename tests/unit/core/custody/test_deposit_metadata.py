"""core/custody/deposits.py: the metadata a credited deposit carries names its place on chain,
the output of a Bitcoin transaction or the log of an Ethereum token transfer, and is metadata a
transfer may carry."""

from __future__ import annotations

import pytest

from ringfence.core.custody.deposits import deposit_metadata
from ringfence.core.custody.holdings import Inflow
from ringfence.core.custody.registry import Chain
from ringfence.core.ledger.metadata import check_metadata

TX = "ab" * 32
ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
ETH_ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"


@pytest.mark.parametrize(
    ("chain", "address", "asset", "reference", "expected"),
    [
        (Chain.bitcoin, ADDRESS, "BTC", f"{TX}:7", {"chain": "bitcoin", "txid": TX, "vout": "7"}),
        (Chain.ethereum, ETH_ADDRESS, "ETH", f"0x{TX}", {"chain": "ethereum", "txid": f"0x{TX}"}),
        (
            Chain.ethereum,
            ETH_ADDRESS,
            "USDC",
            f"0x{TX}:12",
            {"chain": "ethereum", "txid": f"0x{TX}", "log_index": "12"},
        ),
    ],
)
def test_a_deposit_carries_its_transaction_and_output_or_log(
    chain: Chain, address: str, asset: str, reference: str, expected: dict[str, str]
) -> None:
    inflow = Inflow(chain, address, asset, 5, reference, "", 100, 0, "listed")
    metadata = deposit_metadata(inflow)
    assert metadata == expected
    assert check_metadata(metadata) == expected
