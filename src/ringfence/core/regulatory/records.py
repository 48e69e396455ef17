"""Fixed-width journal records of regulatory checks and evidence: the residual-interest deadline
check (a ``residual_deadlines`` entry, kind 22) and a version of the sub-custodian register (a
``sub_custodian_registers`` entry, kind 23).

The residual-interest deadline report (core/regulatory/residual.py) is computed from the
journal and an operator's margin requirements, which the journal does not hold; journaling a
check keeps what its statuses are computed from, so that a breach is an event of the journal
(core/events/catalogue.py) and can be replayed and audited like every other. Framed like every
entry of plain records (core/ledger/framing.py: the journal's header, then 128-byte big-endian
records, chained by SHA-256). Records, by their first byte:

    1 check   as-of time, deadline, SHA-256 of the margin requirements document, lines
    2 line    pool, asset, funds, requirement, target, Σ undermargined, accounts undermargined

An entry holds one check record and then exactly its lines. The statuses are not stored:
they are computed again from these facts (``DeadlineCheck.lines``), so a reader can never be
told "breach" by a record whose figures say otherwise.

The register (docs/regulatory.md) is kept as an operator's file; recording a version of it
journals what the file said, so that who held clients' assets, approved or not, is evidence in
the chain and a later edit of the file cannot rewrite it. Records, by their first byte:

    1 register        the file's format version and SHA-256, the sub-custodians that follow
    2 sub-custodian   name, status, approved at, due-diligence records and wallets that follow
    3 due diligence   kind, period end, received at
    4 wallet          a wallet of the registry the sub-custodian holds

A register record, then per sub-custodian its record, its due-diligence records and its
wallets, in the file's order; the decoder checks every count.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Final

from ringfence.core import limits
from ringfence.core.ledger.framing import framed, record_bytes, u128_bytes, u128_of, unframed
from ringfence.core.ledger.journal import EntryKind, name_bytes, text_of
from ringfence.core.regulatory.files import (
    Approval,
    DueDiligence,
    FileIdentity,
    SubCustodian,
    SubCustodianRegister,
)
from ringfence.core.regulatory.residual import DeadlineFacts, DeadlineLine

_check: Final = struct.Struct(">BQQ32sI75x")
_line: Final = struct.Struct(">B32s12s16s16s16s16sI15x")
assert _check.size == _line.size == record_bytes
_register: Final = struct.Struct(">B32sII87x")
_sub_custodian: Final = struct.Struct(">B32sBQII78x")
_due_diligence: Final = struct.Struct(">B64sQQ47x")
_wallet: Final = struct.Struct(">B32s95x")
assert _register.size == _sub_custodian.size == _due_diligence.size == _wallet.size == record_bytes

_record_check: Final = 1
_record_line: Final = 2
_record_register: Final = 1
_record_sub_custodian: Final = 2
_record_due_diligence: Final = 3
_record_wallet: Final = 4
_statuses: Final = {Approval.approved: 1, Approval.pending: 2, Approval.revoked: 3}
due_diligence_kind_bytes: Final = 64
sha256_bytes: Final = 32
asset_code_bytes: Final = 12


@dataclass(frozen=True, slots=True)
class DeadlineCheck:
    """One residual-interest deadline check: as of when, against which deadline and which
    requirements document (its SHA-256), and each custody pool and asset's facts."""

    as_of_ns: int
    deadline_ns: int
    requirements_sha256: bytes
    facts: tuple[DeadlineFacts, ...]

    def lines(self) -> list[DeadlineLine]:
        """Each line with its status, computed from the facts."""
        return [fact.line(self.as_of_ns, self.deadline_ns) for fact in self.facts]


def encode_deadline_check(seq: int, timestamp: int, check: DeadlineCheck) -> bytes:
    """A ``residual_deadlines`` entry's body: the check record, then one record per line."""
    assert len(check.requirements_sha256) == sha256_bytes
    assert 0 <= check.as_of_ns <= limits.timestamp_ns_max
    assert 0 <= check.deadline_ns <= limits.timestamp_ns_max
    assert len(check.facts) < limits.journal_records_per_batch_max
    records = [
        _check.pack(
            _record_check, check.as_of_ns, check.deadline_ns, check.requirements_sha256,
            len(check.facts),
        )
    ]  # fmt: skip
    for fact in check.facts:
        code = fact.asset.encode("ascii")
        assert 0 < len(code) <= asset_code_bytes
        assert 0 <= fact.accounts_undermargined < 2**32
        records.append(
            _line.pack(
                _record_line, name_bytes(fact.pool), code, u128_bytes(fact.funds),
                u128_bytes(fact.requirement), u128_bytes(fact.target),
                u128_bytes(fact.undermargined), fact.accounts_undermargined,
            )
        )  # fmt: skip
    return framed(EntryKind.residual_deadlines, seq, timestamp, records)


def decode_deadline_check(body: bytes) -> DeadlineCheck:
    """The check of a ``residual_deadlines`` entry; ``ValueError`` on a body this code would
    not have written (another kind, a record out of place, a count that does not match)."""
    header, raws = unframed(body, (EntryKind.residual_deadlines,), "a residual_deadlines entry")
    if not raws or raws[0][0] != _record_check:
        raise ValueError(f"journal entry {header.seq}: no check record first")
    _, as_of_ns, deadline_ns, digest, count = _check.unpack(raws[0])
    kept = len(raws) - 1
    if count != kept:
        raise ValueError(f"journal entry {header.seq}: {count} lines announced, {kept} kept")
    facts = []
    for index, raw in enumerate(raws[1:], start=1):
        if raw[0] != _record_line:
            raise ValueError(f"journal entry {header.seq}: record {index} is not a line")
        _, pool, code, funds, requirement, target, short, accounts = _line.unpack(raw)
        try:
            names = (text_of(pool), text_of(code))
        except UnicodeDecodeError as error:
            raise ValueError(f"journal entry {header.seq}: record {index}: {error}") from None
        facts.append(
            DeadlineFacts(
                *names, u128_of(funds), u128_of(requirement), u128_of(target), u128_of(short),
                accounts,
            )
        )  # fmt: skip
    return DeadlineCheck(as_of_ns, deadline_ns, digest, tuple(facts))


# ---------------------------------------------------------------------- the register


def encode_register(seq: int, timestamp: int, register: SubCustodianRegister) -> bytes:
    """A ``sub_custodian_registers`` entry's body (module docstring)."""
    identity = register.identity
    records = [
        _register.pack(
            _record_register, bytes.fromhex(identity.sha256), identity.version,
            len(register.sub_custodians),
        )
    ]  # fmt: skip
    for entry in register.sub_custodians:
        records.append(
            _sub_custodian.pack(
                _record_sub_custodian, name_bytes(entry.name), _statuses[entry.status],
                entry.approved_ns, len(entry.due_diligence), len(entry.wallets),
            )
        )  # fmt: skip
        for record in entry.due_diligence:
            kind = record.kind.encode("ascii")
            assert 0 < len(kind) <= due_diligence_kind_bytes
            assert b"\0" not in kind
            records.append(
                _due_diligence.pack(
                    _record_due_diligence, kind, record.period_end_ns, record.received_ns
                )
            )
        records += [_wallet.pack(_record_wallet, name_bytes(wallet)) for wallet in entry.wallets]
    assert len(records) < limits.journal_records_per_batch_max
    return framed(EntryKind.sub_custodian_registers, seq, timestamp, records)


class _Reader:
    """The records of one entry, read in order, each of the type expected."""

    def __init__(self, seq: int, raws: list[bytes]) -> None:
        self.seq, self.raws, self.index = seq, raws, 0

    def next(self, kind: int, layout: struct.Struct) -> tuple[Any, ...]:
        if self.index >= len(self.raws) or self.raws[self.index][0] != kind:
            raise ValueError(f"journal entry {self.seq}: record {self.index} is out of place")
        fields = layout.unpack(self.raws[self.index])
        self.index += 1
        return fields[1:]


def decode_register(body: bytes) -> SubCustodianRegister:
    """The register of a ``sub_custodian_registers`` entry; ``ValueError`` on a body this code
    would not have written (a record out of place, a count that does not match, a bad name)."""
    header, raws = unframed(
        body, (EntryKind.sub_custodian_registers,), "a sub_custodian_registers entry"
    )
    read = _Reader(header.seq, raws)
    digest, version, count = read.next(_record_register, _register)
    statuses = {number: status for status, number in _statuses.items()}
    found = []
    try:
        for _ in range(count):
            name, status, approved_ns, checks, wallets = read.next(
                _record_sub_custodian, _sub_custodian
            )
            records = []
            for _ in range(checks):
                kind, period_end, received = read.next(_record_due_diligence, _due_diligence)
                records.append(DueDiligence(text_of(kind), period_end, received))
            held = tuple(text_of(read.next(_record_wallet, _wallet)[0]) for _ in range(wallets))
            entry = SubCustodian(text_of(name), statuses[status], approved_ns, tuple(records), held)
            found.append(entry)
    except (KeyError, UnicodeDecodeError) as error:
        raise ValueError(f"journal entry {header.seq}: {error!r}") from None
    if read.index != len(raws):
        raise ValueError(f"journal entry {header.seq}: {len(raws) - read.index} records left over")
    return SubCustodianRegister(FileIdentity(version, digest.hex()), tuple(found))
