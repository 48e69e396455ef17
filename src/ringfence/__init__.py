"""ringfence: keeps clients' crypto assets segregated from the firm's own, and proves it.

    import ringfence
    ledger = ringfence.open("sqlite:///ringfence.db")
    ledger.submit([...])
    ledger.close()
"""

from ringfence.bootstrap import open_ledger as open
from ringfence.core.errors import InputError, IntegrityError, Result, RingfenceError, StorageError
from ringfence.core.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Purpose,
    Terms,
    Transfer,
    TransferCode,
    TransferFlags,
)
from ringfence.core.money import Asset, format_amount, parse_amount

__all__ = [
    "AccountClass",
    "AccountDefinition",
    "Asset",
    "InputError",
    "IntegrityError",
    "Pool",
    "PoolKind",
    "Purpose",
    "Result",
    "RingfenceError",
    "StorageError",
    "Terms",
    "Transfer",
    "TransferCode",
    "TransferFlags",
    "format_amount",
    "open",
    "parse_amount",
]
