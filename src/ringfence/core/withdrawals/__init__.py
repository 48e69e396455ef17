"""Withdrawals through their lifecycle (``lifecycle.py``) and the journal's records of them
(``codec.py``)."""

from ringfence.core.withdrawals.lifecycle import (
    Status,
    Withdrawal,
    WithdrawalBook,
    WithdrawalSpec,
    quorum_reached,
)

__all__ = ["Status", "Withdrawal", "WithdrawalBook", "WithdrawalSpec", "quorum_reached"]
