"""What opening a store checks of its checkpoint before serving it.

A checkpoint is a projection: the balances, pending transfers, breaks and reversal totals as
of one journal entry, so that opening a store replays only the journal's tail. The loader
cannot afford to replay everything, but it refuses (``IntegrityError``) any checkpoint that
cannot be right on its face, whatever the journal holds:

- it is at an entry of the journal (0 up to the head), and at entry 0 it is empty;
- every value is a u128 (timestamps fit 63 bits), and a balance belongs to an account;
- per asset, debits equal credits, posted and pending;
- no limited account is below zero, pending debits (or credits) counted;
- every pending row is a stored pending transfer, with its expiry, and the pending balances
  of every account are exactly those of its open pending transfers;
- every break is in a pool position, cured at most by its amount, and no custody pool is
  short beyond its outstanding breaks.

What it cannot see is a checkpoint that is consistent but wrong (value moved between two
accounts of one asset, a pending transfer marked posted instead of voided): only ``audit
verify``, which replays the whole journal and compares the checkpoint with the replayed state
at its entry, finds those.
"""

from __future__ import annotations

from collections.abc import Mapping

from ringfence.core import limits
from ringfence.core.errors import IntegrityError
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.model import Break, TransferFlags, TransferRecord
from ringfence.core.ledger.state import Limit, PendingStatus
from ringfence.service.ports import Checkpoint

_second_ns = 1_000_000_000


def check_checkpoint_shape(checkpoint: Checkpoint, head_seq: int) -> None:
    """What needs no state: where it is, that it is empty at entry 0, that values are u128."""
    seq = checkpoint.seq
    if type(seq) is not int or not 0 <= seq <= head_seq:
        raise IntegrityError(f"the checkpoint is at entry {seq!r}; the journal ends at {head_seq}")
    if not _is_int(checkpoint.timestamp_last, limits.timestamp_ns_max):
        raise IntegrityError(f"the checkpoint's timestamp {checkpoint.timestamp_last!r} is invalid")
    if seq == 0 and (
        checkpoint.balances
        or checkpoint.pendings
        or checkpoint.breaks
        or checkpoint.reversed
        or checkpoint.timestamp_last
    ):
        raise IntegrityError(
            "the checkpoint at entry 0 (before any entry) holds state: "
            f"{len(checkpoint.balances)} balances, {len(checkpoint.pendings)} pending transfers, "
            f"{len(checkpoint.breaks)} breaks, {len(checkpoint.reversed)} reversals"
        )
    for account_id, balances in checkpoint.balances.items():
        if len(balances) != 4 or not all(_is_u128(value) for value in balances):
            raise IntegrityError(f"the checkpoint's balances of account {account_id} are invalid")
    for pending_id, row in checkpoint.pendings.items():
        if row.id != pending_id or not _is_int(row.expires_at, limits.timestamp_ns_max):
            raise IntegrityError(f"the checkpoint's pending transfer {pending_id} is invalid")
        if row.status not in tuple(PendingStatus):
            raise IntegrityError(
                f"the checkpoint's pending transfer {pending_id} has status {row.status!r}"
            )
    for break_id, broken in checkpoint.breaks.items():
        if broken.id != break_id or not (_is_u128(broken.amount) and _is_u128(broken.cured)):
            raise IntegrityError(f"the checkpoint's break {break_id} is invalid")
        if broken.cured > broken.amount:
            raise IntegrityError(f"the checkpoint's break {break_id} is cured beyond its amount")
    for transfer_id, amount in checkpoint.reversed.items():
        if not _is_u128(amount):
            raise IntegrityError(f"the checkpoint's reversals of {transfer_id} are invalid")


def check_pending_row(record: TransferRecord, expires_at: int) -> None:
    """A checkpoint's pending row against the stored transfer it names."""
    if not record.flags & TransferFlags.pending:
        raise IntegrityError(f"the checkpoint names transfer {record.id}, not pending, as pending")
    expected = record.timestamp + record.timeout_s * _second_ns if record.timeout_s else 0
    if expires_at != expected:
        raise IntegrityError(
            f"the checkpoint's pending transfer {record.id} expires at {expires_at}, "
            f"its timeout says {expected}"
        )


def check_restored(ledger: Ledger) -> None:
    """The engine's state just restored from a checkpoint (positions recomputed) must keep
    the guarantees every committed state keeps."""
    totals: dict[int, list[int]] = {}
    for account in ledger.accounts.values():
        debits_pending, debits_posted, credits_pending, credits_posted = account.balances()
        total = totals.setdefault(account.asset, [0, 0, 0, 0])
        for index, value in enumerate(account.balances()):
            total[index] += value
        below_zero = (
            account.limit is Limit.credit_normal
            and debits_posted + debits_pending > credits_posted
        ) or (
            account.limit is Limit.debit_normal
            and credits_posted + credits_pending > debits_posted
        )
        if below_zero:
            raise IntegrityError(f"the checkpoint has account {account.id} below zero")
    for asset, (debits_pending, debits_posted, credits_pending, credits_posted) in totals.items():
        if debits_posted != credits_posted or debits_pending != credits_pending:
            raise IntegrityError(f"the checkpoint's debits and credits of asset {asset} differ")
    _check_pending_balances(ledger)
    for position in ledger.positions.values():
        if position.enforced and position.excess_worst + position.breaks_outstanding < 0:
            raise IntegrityError(
                f"the checkpoint has pool {position.pool.name} (asset {position.asset}) short "
                "beyond its recorded breaks"
            )


def _check_pending_balances(ledger: Ledger) -> None:
    """Pending balances are exactly the amounts of the open pending transfers."""
    debits: dict[int, int] = {}
    credits: dict[int, int] = {}
    for pending in ledger.pendings.values():
        if pending.status is PendingStatus.pending:
            record = pending.record
            debits[record.debit_account] = debits.get(record.debit_account, 0) + record.amount
            credits[record.credit_account] = credits.get(record.credit_account, 0) + record.amount
    for account in ledger.accounts.values():
        if (account.debits_pending, account.credits_pending) != (
            debits.get(account.id, 0),
            credits.get(account.id, 0),
        ):
            raise IntegrityError(
                f"the checkpoint's pending balances of account {account.id} are not those of "
                "its open pending transfers"
            )


def check_breaks(ledger: Ledger, breaks: Mapping[int, Break]) -> None:
    """Every break of a checkpoint lies in a pool position the definitions made."""
    for break_id, broken in breaks.items():
        if (broken.pool, broken.asset) not in ledger.positions:
            raise IntegrityError(f"the checkpoint's break {break_id} is in no pool position")


def _is_u128(value: object) -> bool:
    return _is_int(value, limits.amount_units_max)


def _is_int(value: object, value_max: int) -> bool:
    return type(value) is int and 0 <= value <= value_max
