"""service/streams.py: a stream is cut into batches only between linked chains; a chain with a
refused event fails whole, a chain longer than a batch is refused whole, and the events around
either go on as usual."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.service.streams import Refused, Stretch, stretches

_F = TransferFlags
size = limits.batch_events_max
ok = Result.ok


def event(number: int, linked: bool = False) -> Transfer:
    return Transfer(number + 1, 1, 2, 1, TransferCode.deposit, _F.linked if linked else _F.none)


def chain(start: int, length: int) -> list[Transfer]:
    return [event(start + i, linked=i < length - 1) for i in range(length)]


def shapes(cut: list[Stretch]) -> list[tuple[int, int]]:
    """Each stretch as (items, events to submit)."""
    return [(len(s.outcomes), len(s.events)) for s in cut]


def decided(cut: list[Stretch]) -> list[Result | None]:
    return [outcome for s in cut for outcome in s.outcomes]


def test_full_batches_are_cut_only_between_chains() -> None:
    events = [event(i) for i in range(size - 3)] + chain(size, 5) + [event(2 * size)] * 7
    cut = list(stretches(events))
    assert shapes(cut) == [(size - 3, size - 3), (12, 12)]
    assert [e for s in cut for e in s.events] == events
    assert decided(cut) == [None] * len(events)
    assert list(stretches([])) == []


def test_a_chain_as_long_as_a_batch_travels_alone_and_whole() -> None:
    events = [event(0), *chain(1, size), event(size + 2)]
    assert shapes(list(stretches(events))) == [(1, 1), (size, size), (1, 1)]


@pytest.mark.parametrize("length", [size + 1, 9_001, 3 * size + 7])
def test_a_chain_longer_than_a_batch_is_refused_whole(length: int) -> None:
    before, after = [event(i) for i in range(10)], [event(10**6 + i) for i in range(10)]
    cut = list(stretches([*before, *chain(100, length), *after]))
    assert decided(cut) == [None] * 10 + [Result.linked_chain_too_long] * length + [None] * 10
    assert [e for s in cut for e in s.events] == before + after


def test_a_refused_event_fails_its_chain_and_keeps_its_code() -> None:
    refused = Refused(Result.amount_must_not_be_zero, linked=True)
    events = [event(0), event(1, linked=True), refused, event(3), event(4)]
    (stretch,) = stretches(events)
    assert stretch.outcomes == [
        None,
        Result.linked_event_failed,
        Result.amount_must_not_be_zero,
        Result.linked_event_failed,
        None,
    ]
    assert stretch.events == [events[0], events[4]]
    assert stretch.merged([ok, Result.exists]) == [
        ok,
        Result.linked_event_failed,
        Result.amount_must_not_be_zero,
        Result.linked_event_failed,
        Result.exists,
    ]


def test_a_refused_event_outside_a_chain_fails_alone() -> None:
    events = [event(0), Refused(Result.line_malformed, linked=False), event(2)]
    (stretch,) = stretches(events)
    assert stretch.outcomes == [None, Result.line_malformed, None]


def test_a_refused_event_in_a_chain_too_long_keeps_its_code() -> None:
    events: list[object] = list(chain(0, size + 10))
    events[3] = Refused(Result.line_too_long, linked=True)
    outcomes = decided(list(stretches(events)))
    assert outcomes[3] is Result.line_too_long
    assert outcomes.count(Result.linked_chain_too_long) == size + 9


def test_a_chain_open_at_the_end_goes_to_the_engine_as_it_is() -> None:
    events = [event(0), *chain(1, 3)[:-1]]
    (stretch,) = stretches(events)
    assert stretch.events == events  # the engine fails it: linked_event_chain_open


def test_something_that_is_not_a_transfer_ends_a_chain_and_goes_to_the_engine() -> None:
    events: list[object] = [event(0, linked=True), None, {"id": 3}, event(4)]
    (stretch,) = stretches(events)
    assert stretch.events == events


def test_a_chain_too_long_is_never_held_whole() -> None:
    """Its results go out as they come: the stream is read no further than needed."""
    read = [0]

    def endless_chain() -> Iterator[Transfer]:
        while True:
            read[0] += 1
            yield event(read[0], linked=True)

    cut = stretches(endless_chain(), events_max=100, held_max=1_000)
    first = next(cut)
    assert first.outcomes == [Result.linked_chain_too_long] * 1_000
    assert first.events == []
    assert read[0] == 1_000


def test_results_decided_early_are_not_held_past_the_limit() -> None:
    refusals = [Refused(Result.line_malformed, linked=False)] * 250
    cut = list(stretches([*refusals, event(0)], events_max=100, held_max=100))
    assert shapes(cut) == [(100, 0), (100, 0), (51, 1)]
