"""Cutting a stream of events into batches: the one place that decides which events travel
together, so that a linked chain commits whole or is refused whole.

A stream is any number of events in order, some of them perhaps refused before they reached
the service (an input line that did not parse: ``Refused``). It is cut into *stretches*: runs
of consecutive events whose transfers fit one batch (at most 8,189), cut only between linked
chains. Inside a stretch, the events the engine must decide travel as one batch; the others
already have their result:

- a chain with a refused event fails whole before it reaches the engine: the refused event
  keeps its own code, the others get ``linked_event_failed``;
- a chain longer than a batch can never commit (a batch is the unit of atomicity), so every
  event of it gets ``linked_chain_too_long`` (a refused one keeps its own code); the events
  around it go on as usual. Such a chain is never held whole: once it passes the limit its
  events are refused as they come;
- a chain still open at the end of the stream goes to the engine as it is, which fails it
  (``linked_event_chain_open``), as it would in any batch.

Everything here is pure: the service (``LedgerService.submit_events``) submits the batches and
puts the results back in stream order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger.model import Transfer, TransferFlags


@dataclass(frozen=True, slots=True)
class Refused:
    """An event refused before it reached the service, in its place in the stream; a linked
    chain it belongs to (``linked``: it said so, or might have) fails with it."""

    result: Result
    linked: bool

    def __post_init__(self) -> None:
        assert not self.result.succeeded


Item = Transfer | Refused


@dataclass(slots=True)
class Stretch:
    """Consecutive items of a stream: ``outcomes`` has one entry per item, in order, holding
    the result already decided or ``None`` for an event of ``events``, the batch to submit."""

    outcomes: list[Result | None] = field(default_factory=list)
    events: list[Transfer] = field(default_factory=list)

    def merged(self, results: list[Result]) -> list[Result]:
        """The stretch's results in stream order, given the batch's (empty if no batch)."""
        assert len(results) == len(self.events)
        decided = iter(results)
        merged = [next(decided) if outcome is None else outcome for outcome in self.outcomes]
        assert next(decided, None) is None
        return merged


def is_linked(item: object) -> bool:
    """Whether an item says the next one belongs to its chain. Anything that is not a
    transfer with valid flags (the engine refuses it) ends a chain."""
    if isinstance(item, Refused):
        return item.linked
    if item.__class__ is not Transfer:
        return False
    assert isinstance(item, Transfer)
    flags = item.flags
    return flags.__class__ is TransferFlags and bool(flags & TransferFlags.linked)


def stretches(
    items: Iterable[object],
    events_max: int = limits.batch_events_max,
    held_max: int = limits.stream_results_held_max,
) -> Iterator[Stretch]:
    """Cut a stream into stretches (see the module docstring).

    A stretch is cut when the next chain's events would not fit the batch, and when it holds
    ``held_max`` items: results decided early are then handed back without waiting for a batch
    to fill. A stretch without events is yielded only then, or at the end of the stream.
    """
    assert 0 < events_max <= limits.batch_events_max
    assert held_max >= events_max
    stretch = Stretch()
    chain: list[object] = []
    overlong = False  # the open chain passed events_max: its items are refused as they come
    for item in items:
        linked = is_linked(item)
        if overlong:
            stretch.outcomes.append(_too_long(item))
            overlong = linked
        else:
            chain.append(item)
            if len(chain) > events_max:
                stretch.outcomes.extend(_too_long(each) for each in chain)
                chain, overlong = [], linked
            elif not linked:
                if _place(stretch, chain, events_max):
                    yield stretch
                    stretch = Stretch()
                    _place(stretch, chain, events_max)
                chain = []
        if len(stretch.outcomes) >= held_max:
            yield stretch
            stretch = Stretch()
    # A chain open at the end goes to the engine, which refuses it as it would any open chain.
    if chain and _place(stretch, chain, events_max):
        yield stretch
        stretch = Stretch()
        _place(stretch, chain, events_max)
    if stretch.outcomes:
        yield stretch


def _place(stretch: Stretch, chain: list[object], events_max: int) -> bool:
    """Add a whole chain (of at most ``events_max`` items) to the stretch; True, adding
    nothing, when its events do not fit and the stretch must be cut first."""
    assert 0 < len(chain) <= events_max
    refused = next((item for item in chain if isinstance(item, Refused)), None)
    if refused is not None:
        stretch.outcomes.extend(
            item.result if isinstance(item, Refused) else Result.linked_event_failed
            for item in chain
        )
        return False
    if len(stretch.events) + len(chain) > events_max:
        return True
    stretch.outcomes.extend(None for _ in chain)
    stretch.events.extend(chain)  # type: ignore[arg-type]  # the engine refuses non-transfers
    return False


def _too_long(item: object) -> Result:
    return item.result if isinstance(item, Refused) else Result.linked_chain_too_long
