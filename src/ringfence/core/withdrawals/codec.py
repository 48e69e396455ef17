"""Fixed-width journal records of withdrawals (a ``withdrawals`` entry).

Framed like every entry of plain records (core/ledger/framing.py): the journal's header, then
128-byte big-endian records. Each record starts with its type and the withdrawal's id (u128):

    1 request      kind, asset, initiator's role, amount, when, initiator, client
    2 route        pool, source wallet, its tier, destination wallet (sweeps, rebalances)
    3 destination  the network fee's bound and the destination address
    4 decision     action, policy version, approvals and senior approvals required, notice,
                   the rule that matched, why it blocked, when it expires, when
    5 group        a group the approvals come from (senior or not)
    6 eligible     a principal who may approve (senior or not)
    7 trace        a line of the decision's trace (or the continuation of a long one)
    8 approval     approver, approve or reject, when, the approver's Ed25519 signature of
                   the approval instruction (64 zero bytes: none; journals written before
                   approvals were signed hold zeros there, and read as unsigned)
    9 step         status reached, when, transfer id, confirmations, reference (the spend's
                   id, the chain transaction's id, or the void's reason)
   10 release      a voided withdrawal's spend given up on the chain's side, when

``withdrawal_body_digest`` hashes a request's body as these records frame it (without the time
the ledger stamped on it): what an approval signs (core/principals/approval.py).

A request is followed by its route and destination records, a decision by its group,
eligible and trace records; an entry holds the events of one service call, in order.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Final

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger.framing import framed, record_bytes, u128_bytes, u128_of, unframed
from ringfence.core.ledger.journal import EntryKind, key_of, name_bytes, text_of
from ringfence.core.policy.decide import Decision
from ringfence.core.policy.document import Action
from ringfence.core.policy.movement import MovementKind
from ringfence.core.principals.approval import (
    ApprovalDecision,
    ApprovalSubject,
    approval_message,
    no_signature,
)
from ringfence.core.principals.records import PrincipalRole
from ringfence.core.withdrawals.lifecycle import (
    Approved,
    Decided,
    Rejected,
    Requested,
    SpendReleased,
    Status,
    Step,
    Voided,
    WithdrawalEvent,
    WithdrawalSpec,
)

_request: Final = struct.Struct(">B16sB12sB16sQ32s32s9x")
_route: Final = struct.Struct(">B16s32s32s8s32s7x")
_destination: Final = struct.Struct(">B16s16s94s1x")
_decision: Final = struct.Struct(">B16sBIHHB32s48sQQ5x")
_name: Final = struct.Struct(">B16sB32s78x")
_trace: Final = struct.Struct(">B16sB110s")
_approval: Final = struct.Struct(">B16sB32sQ64s6x")
_step: Final = struct.Struct(">B16sBQ16sI80s2x")
_release: Final = struct.Struct(">B16sQ103x")
_records: Final = (
    _request, _route, _destination, _decision, _name, _trace, _approval, _step, _release,
)  # fmt: skip
assert all(record.size == record_bytes for record in _records)
assert limits.withdrawal_destination_bytes_max <= 94
assert limits.withdrawal_reference_bytes_max <= 80

_r_request, _r_route, _r_destination, _r_decision = 1, 2, 3, 4
_r_group, _r_eligible, _r_trace, _r_approval, _r_step, _r_release = 5, 6, 7, 8, 9, 10
_trace_text_bytes: Final = 110
_kinds: Final = {kind: number for number, kind in enumerate(MovementKind, start=1)}
_actions: Final = {Action.allow: 1, Action.block: 2, Action.require: 3}
_statuses: Final = {status: number for number, status in enumerate(Status, start=1)}
_verdict_approve, _verdict_reject = 1, 2


def _ascii(text: str, width: int) -> bytes:
    encoded = text.encode("ascii")
    assert len(encoded) <= width
    assert b"\0" not in encoded
    return encoded


def encode_withdrawal_events(seq: int, timestamp: int, events: list[WithdrawalEvent]) -> bytes:
    assert events
    records: list[bytes] = []
    for event in events:
        records.extend(_encode(event))
    return framed(EntryKind.withdrawals, seq, timestamp, records)


def _encode(event: WithdrawalEvent) -> list[bytes]:
    if isinstance(event, Requested):
        return _encode_request(event)
    if isinstance(event, Decided):
        return _encode_decision(event)
    key = u128_bytes(event.id)
    if isinstance(event, (Approved, Rejected)):
        name, verdict = (
            (event.approver, _verdict_approve) if isinstance(event, Approved)
            else (event.by, _verdict_reject)
        )  # fmt: skip
        signature = no_signature if event.signature is None else event.signature
        assert len(signature) == len(no_signature)
        return [
            _approval.pack(_r_approval, key, verdict, name_bytes(name), event.at_ns, signature)
        ]
    if isinstance(event, SpendReleased):
        return [_release.pack(_r_release, key, event.at_ns)]
    if isinstance(event, Step):
        return [
            _step.pack(
                _r_step, key, _statuses[event.status], event.at_ns, u128_bytes(event.transfer_id),
                event.confirmations, _ascii(event.reference, 80),
            )
        ]  # fmt: skip
    return [
        _step.pack(
            _r_step, key, _statuses[Status.voided], event.at_ns, u128_bytes(event.transfer_id), 0,
            _ascii(event.reason, 80),
        )
    ]  # fmt: skip


withdrawal_body_domain: Final = b"ringfence/withdrawal-body/v1".ljust(32, b"\0")


def withdrawal_body_digest(spec: WithdrawalSpec) -> bytes:
    """SHA-256 of a domain tag and the request's three records (request, route, destination)
    with the time set to zero: every field of the body the withdrawal's id is bound to (kind,
    initiator and role, client, pool, wallet, tier, asset, amount, destination, fee bound), so
    changing any of them changes the digest an approval signs."""
    records = _encode_request(Requested(spec, 0))
    return hashlib.sha256(withdrawal_body_domain + b"".join(records)).digest()


def withdrawal_approval_message(
    ledger_id: bytes, spec: WithdrawalSpec, approver: str, decision: ApprovalDecision
) -> bytes:
    """The approval instruction ``approver`` signs to approve (or reject) the withdrawal of
    ``spec`` in the ledger ``ledger_id``."""
    return approval_message(
        ledger_id,
        approver=approver,
        subject=ApprovalSubject.withdrawal,
        decision=decision,
        subject_id=spec.id,
        body_digest=withdrawal_body_digest(spec),
    )


def _encode_request(event: Requested) -> list[bytes]:
    s = event.spec
    key = u128_bytes(s.id)
    return [
        _request.pack(
            _r_request, key, _kinds[s.kind], _ascii(s.asset, 12), int(s.initiator_role),
            u128_bytes(s.amount), event.at_ns, name_bytes(s.initiator), name_bytes(s.client),
        ),
        _route.pack(
            _r_route, key, name_bytes(s.pool), name_bytes(s.wallet), _ascii(s.tier, 8),
            name_bytes(s.destination_wallet),
        ),
        _destination.pack(_r_destination, key, u128_bytes(s.fee_max), _ascii(s.destination, 94)),
    ]  # fmt: skip


def _encode_decision(event: Decided) -> list[bytes]:
    d = event.decision
    key = u128_bytes(event.id)
    reason = d.reason.value if d.reason is not None else ""
    records = [
        _decision.pack(
            _r_decision, key, _actions[d.action], d.policy_version, d.approvals_required,
            d.senior_approvals_required, int(d.notice), name_bytes(d.rule_id),
            _ascii(reason, 48), event.expires_at_ns, event.at_ns,
        )
    ]  # fmt: skip
    records.extend(_name.pack(_r_group, key, 0, name_bytes(group)) for group in d.groups)
    if d.senior_group:
        records.append(_name.pack(_r_group, key, 1, name_bytes(d.senior_group)))
    for senior, names in ((0, event.eligible), (1, event.senior_eligible)):
        records.extend(
            _name.pack(_r_eligible, key, senior, name_bytes(name)) for name in sorted(names)
        )
    for line in d.trace[: limits.policy_trace_lines_journaled_max]:
        encoded = line.encode("ascii", "replace")
        for number, offset in enumerate(range(0, max(len(encoded), 1), _trace_text_bytes)):
            piece = encoded[offset : offset + _trace_text_bytes].replace(b"\0", b"?")
            records.append(_trace.pack(_r_trace, key, int(number > 0), piece))
    return records


# ---------------------------------------------------------------------- decoding


def decode_withdrawal_events(body: bytes) -> list[WithdrawalEvent]:
    """The events of a ``withdrawals`` entry; ``ValueError`` on a body this code would not
    have written (a torn record, an unknown type or number, a record out of place)."""
    header, raws = unframed(body, (EntryKind.withdrawals,), "a withdrawals entry")
    events: list[WithdrawalEvent] = []
    position = 0
    try:
        while position < len(raws):
            event, position = _decode_one(raws, position)
            events.append(event)
    # ValueError: a number no table holds (key_of), a text that is not ASCII, an unknown role.
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"journal entry {header.seq}: record {position}: {error!r}") from None
    return events


def _decode_one(raws: list[bytes], position: int) -> tuple[WithdrawalEvent, int]:
    raw = raws[position]
    kind = raw[0]
    if kind == _r_request:
        return _decode_request(raws, position), position + 3
    if kind == _r_decision:
        return _decode_decision(raws, position)
    if kind == _r_approval:
        _, key, verdict, name, at_ns, signed = _approval.unpack(raw)
        signature = None if signed == no_signature else signed
        if verdict == _verdict_approve:
            return Approved(u128_of(key), text_of(name), at_ns, signature), position + 1
        if verdict == _verdict_reject:
            return Rejected(u128_of(key), text_of(name), at_ns, signature), position + 1
        raise KeyError(f"verdict {verdict}")
    if kind == _r_step:
        _, key, status_number, at_ns, transfer, confirmations, text = _step.unpack(raw)
        status = key_of(_statuses, status_number)
        if status is Status.voided:
            return Voided(u128_of(key), text_of(text), at_ns, u128_of(transfer)), position + 1
        step = Step(u128_of(key), status, at_ns, u128_of(transfer), text_of(text), confirmations)
        return step, position + 1
    if kind == _r_release:
        _, key, at_ns = _release.unpack(raw)
        return SpendReleased(u128_of(key), at_ns), position + 1
    raise KeyError(f"record type {kind} out of place")


def _decode_request(raws: list[bytes], position: int) -> Requested:
    _, key, kind, asset, role, amount, at_ns, initiator, client = _request.unpack(raws[position])
    route = _route.unpack(raws[position + 1])
    destination = _destination.unpack(raws[position + 2])
    if route[0] != _r_route or destination[0] != _r_destination:
        raise KeyError("a request without its route and destination")
    if route[1] != key or destination[1] != key:
        raise KeyError("a route or destination of another withdrawal")
    _, _, pool, wallet, tier, destination_wallet = route
    _, _, fee_max, address = destination
    spec = WithdrawalSpec(
        u128_of(key), key_of(_kinds, kind), text_of(initiator), PrincipalRole(role),
        text_of(pool), text_of(wallet), text_of(tier), text_of(asset), u128_of(amount),
        text_of(address), u128_of(fee_max), text_of(client), text_of(destination_wallet),
    )  # fmt: skip
    return Requested(spec, at_ns)


def _decode_decision(raws: list[bytes], position: int) -> tuple[Decided, int]:
    (_, key, action, version, approvals, senior, notice, rule_id, reason, expires_at,
     at_ns) = _decision.unpack(raws[position])  # fmt: skip
    groups: list[str] = []
    senior_group = ""
    eligible: tuple[set[str], set[str]] = (set(), set())
    trace: list[str] = []
    position += 1
    while position < len(raws) and raws[position][0] in (_r_group, _r_eligible, _r_trace):
        raw = raws[position]
        if raw[1:17] != key:
            raise KeyError("a decision's record of another withdrawal")
        if raw[0] == _r_trace:
            _, _, continued, text = _trace.unpack(raw)
            if continued and trace:
                trace[-1] += text_of(text)
            else:
                trace.append(text_of(text))
        else:
            _, _, is_senior, name = _name.unpack(raw)
            if raw[0] == _r_eligible:
                eligible[is_senior].add(text_of(name))
            elif is_senior:
                senior_group = text_of(name)
            else:
                groups.append(text_of(name))
        position += 1
    reason_text = text_of(reason)
    decision = Decision(
        key_of(_actions, action), approvals, tuple(groups), text_of(rule_id), tuple(trace),
        version, senior, senior_group, bool(notice),
        Result(reason_text) if reason_text else None,
    )  # fmt: skip
    decided = Decided(
        u128_of(key), decision, frozenset(eligible[0]), frozenset(eligible[1]), expires_at, at_ns
    )
    return decided, position
