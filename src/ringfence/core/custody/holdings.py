"""What the chains and custodians say: holdings observed and inflows seen.

Every fact carries where it came from (``source``), on which chain, and at which height or
time, so a reconciliation can say "book 10 BTC, chain 9.5 BTC at height 871,002 from snapshot
3f2a..." rather than "chain 9.5". Amounts are exact integers in the asset's minor units (sats,
wei, the token's smallest unit).

- ``Observation``: what one address held of one asset at a height or time.
- ``Inflow``: one credit to one address, named by its chain reference. The reference is what
  makes deposit detection idempotent: ``txid:vout`` on Bitcoin; the transaction hash for an
  Ether transfer and ``hash:log_index`` for an ERC-20 ``Transfer`` log on Ethereum.
"""

from __future__ import annotations

from dataclasses import dataclass

from ringfence.core import limits
from ringfence.core.custody.registry import Chain, check_text
from ringfence.core.errors import InputError, Result
from ringfence.core.money import check_transfer_units, check_units


def _check_point(height: int, time_ns: int) -> None:
    for value, maximum in ((height, limits.block_height_max), (time_ns, limits.timestamp_ns_max)):
        if type(value) is not int or not 0 <= value <= maximum:
            raise InputError(Result.observation_point_invalid, repr(value))


@dataclass(frozen=True, slots=True)
class Observation:
    """``address`` held ``amount`` of ``asset`` at ``height`` (0 if the source has only a
    time) and ``time_ns`` (0 if unknown), according to ``source``."""

    chain: Chain
    address: str
    asset: str
    amount: int
    height: int
    time_ns: int
    source: str

    def __post_init__(self) -> None:
        check_text(self.address, "address", limits.address_length_max)
        check_units(self.amount)
        _check_point(self.height, self.time_ns)


@dataclass(frozen=True, slots=True)
class Inflow:
    """``amount`` of ``asset`` arrived at ``address`` in the transaction output or log named by
    ``reference``; ``sender`` is the paying address when the chain says (Ethereum), else ""."""

    chain: Chain
    address: str
    asset: str
    amount: int
    reference: str
    sender: str
    height: int
    time_ns: int
    source: str

    def __post_init__(self) -> None:
        check_text(self.address, "address", limits.address_length_max)
        check_transfer_units(self.amount)
        if not self.reference or len(self.reference) > limits.chain_reference_length_max:
            raise InputError(Result.chain_reference_invalid, repr(self.reference))
        if self.sender:
            check_text(self.sender, "sender", limits.address_length_max)
        _check_point(self.height, self.time_ns)
