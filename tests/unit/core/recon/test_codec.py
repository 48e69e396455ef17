"""core/recon/codec.py: runs and actions round-trip through fixed-width records, and a body
this code would not write is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ringfence.core.ledger.journal import EntryKind, decode_header
from ringfence.core.recon.breaks import BreakBook, BreakState, Cause, ReconBreak
from ringfence.core.recon.codec import (
    Action,
    ActionKind,
    Coverage,
    ReconHistory,
    RunSummary,
    encode_action,
    encode_run,
    replay_recon_entry,
)
from ringfence.core.recon.segregation_statement import Alert, FundsBasis

BIG = 2**128 - 1
SUMMARY = RunSummary(1, 10, FundsBasis.observed, True, 3, 1, 1, 0, 1, 0, 2)
COVERAGE = Coverage("omni", "ETH", BIG, BIG - 1, 0, 2**70, True, Alert.undersegregated)
BROKEN = ReconBreak(1, "w" * 32, "USDC", BIG, 0, 10, 10, BIG, cause=Cause.unrecorded_outflow)


def test_a_run_and_an_action_round_trip() -> None:
    history = ReconHistory()
    body = encode_run(1, 100, SUMMARY, [COVERAGE], [BROKEN])
    assert decode_header(body).kind is EntryKind.reconciliations
    replay_recon_entry(history, body)
    assert history.runs == [(SUMMARY, [COVERAGE])]
    assert history.book.breaks[1] == BROKEN
    explained = replace(BROKEN, state=BreakState.explained, cause=Cause.loss, action="keys lost")
    action = Action(1, ActionKind.explain, 200, 0, "keys lost")
    replay_recon_entry(history, encode_action(2, 200, action, explained))
    assert history.book.breaks[1] == explained
    aged = replace(explained, last_seen_ns=300, action="")
    replay_recon_entry(history, encode_run(3, 300, replace(SUMMARY, run=2), [], [aged]))
    assert history.book.breaks[1].action == "keys lost"  # runs carry the texts over
    assert history.actions == [action]


def test_bodies_this_code_would_not_write_are_refused() -> None:
    body = encode_run(1, 100, SUMMARY, [COVERAGE], [BROKEN])
    with pytest.raises(ValueError, match="torn"):
        replay_recon_entry(ReconHistory(), body[:-1])
    out_of_sequence = encode_run(1, 100, SUMMARY, [], [replace(BROKEN, id=2)])
    with pytest.raises(ValueError, match="out of sequence"):
        replay_recon_entry(ReconHistory(), out_of_sequence)
    history = ReconHistory()
    replay_recon_entry(history, body)
    moved = encode_run(2, 200, SUMMARY, [], [replace(BROKEN, wallet="other")])
    with pytest.raises(ValueError, match="changed its wallet"):
        replay_recon_entry(history, moved)
    assert BreakBook().id_next == 1
