"""ringfence: keeps clients' crypto assets segregated from the firm's own, and proves it.

    import ringfence
    ledger = ringfence.open("sqlite:///ringfence.db")
    ledger.submit([...])
    ledger.close()

An internal transfer needs its payer's signature: ``ledger.authorise(transfer, seed)`` signs it
with the payer's key (``authorised_by`` names the payer's principal); principals are registered
with ``ledger.change_principals([ledger.endorse(Principal(...), admin, admin_seed)])``.
"""

from typing import TYPE_CHECKING, Any

from ringfence.core.errors import InputError, IntegrityError, Result, RingfenceError, StorageError
from ringfence.core.ledger.model import (
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
from ringfence.core.principals.records import (
    Principal,
    PrincipalChange,
    PrincipalRole,
    PrincipalStatus,
)
from ringfence.recursion_limit import keep_recursion_limit

# Before anything imports the Ethereum libraries (ringfence/recursion_limit.py says why).
keep_recursion_limit()

if TYPE_CHECKING:
    from ringfence.bootstrap import open_ledger as open


def __getattr__(name: str) -> Any:
    """``ringfence.open``, imported on first use: the composition root brings in every adapter
    (PostgreSQL, Ethereum, the HSM), which a program that only needs the records, or the
    command line's ``--help``, should not wait for."""
    if name == "open":
        from ringfence.bootstrap import open_ledger

        return open_ledger
    raise AttributeError(f"module 'ringfence' has no attribute {name!r}")


__all__ = [
    "AccountClass",
    "AccountDefinition",
    "Asset",
    "InputError",
    "IntegrityError",
    "Pool",
    "PoolKind",
    "Principal",
    "PrincipalChange",
    "PrincipalRole",
    "PrincipalStatus",
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
