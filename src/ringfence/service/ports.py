"""The ports: what the service needs from the outside world, as Protocols.

Adapters under ``ringfence.adapters`` implement them (memory, SQLite; PostgreSQL and chain
sources later); tests use the in-memory ones. The service never imports an adapter: the
composition root (``ringfence.bootstrap``) chooses and wires them.

Length (over 500 lines, argued): every boundary the shell has with the outside world is here
and nowhere else, so a reader (or an auditor asking "what can touch the books?") reads one
file; each Protocol is short and stands alone, and splitting them by domain would scatter the
one list that matters.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ringfence.core import limits
from ringfence.core.access.keys import ApiKey
from ringfence.core.batch import ClientAccountRow, ClientRange
from ringfence.core.custody.holdings import Inflow, Observation
from ringfence.core.custody.snapshots import Snapshot
from ringfence.core.custody.spends import SpendOrder, SpendRecord
from ringfence.core.errors import InputError, Result
from ringfence.core.events.webhooks import Subscription
from ringfence.core.ledger.journal import Definition, EntryKind, JournalEntry
from ringfence.core.ledger.model import Break, TransferRecord
from ringfence.core.money import Asset
from ringfence.core.recon.history import Price
from ringfence.core.recon.run import ReconSettings
from ringfence.core.regulatory.files import (
    HaircutSchedule,
    InsuranceSchedule,
    MarginRequirements,
    SubCustodianRegister,
)

if TYPE_CHECKING:
    # Named only in annotations; its module brings numpy, which a command that never builds a
    # proof-of-reserves tree should not wait for.
    from ringfence.core.por.private import PrivateTree
    from ringfence.core.por.round import ReservesAttestation, Round
    from ringfence.core.por.tree import AssetTree


@dataclass(slots=True)
class PendingRow:
    """A pending transfer's lifecycle as a checkpoint stores it (the record is in transfers)."""

    id: int
    expires_at: int
    status: int


@dataclass(slots=True)
class Checkpoint:
    """The engine's mutable state as of journal entry ``seq``.

    Written as a delta (only what changed since the previous checkpoint) and read back whole.
    Pool positions are not stored: they are sums over balances, pending transfers and breaks,
    recomputed on load.
    """

    seq: int
    timestamp_last: int
    balances: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    pendings: dict[int, PendingRow] = field(default_factory=dict)
    breaks: dict[int, Break] = field(default_factory=dict)
    reversed: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredPastState:
    """A snapshot of the past as the store keeps it (service/ledger/past_seal.py): the engine's
    whole state right after entry ``seq``, encoded, with that entry's hash and the journal
    key's signature over both. The store only keeps it; the service checks it on load."""

    seq: int
    entry_hash: bytes
    body: bytes
    signature: bytes


class CutReader(Protocol):
    """One client range of a ``BalanceCut``: what a batch task carries to its process (it
    pickles) and reads there."""

    def read(self) -> list[ClientAccountRow]:
        """The client accounts of the range's clients at the cut, in client number order;
        ``SnapshotMovedError`` when the store can no longer show the cut."""
        ...


class BalanceCut(Protocol):
    """One consistent cut of the stored client balances, at journal entry ``seq`` (the store's
    checkpoint), that many processes read at once, range by range, while it is open."""

    @property
    def seq(self) -> int: ...

    @property
    def client_number_max(self) -> int:
        """The highest client number defined at the cut (0: none)."""
        ...

    def reader(self, clients: ClientRange) -> CutReader:
        """A reader of the accounts of clients numbered in ``clients``."""
        ...


_Item = TypeVar("_Item")
_Outcome = TypeVar("_Outcome")


class Executor(Protocol):
    """Where a batch run's tasks run: in this process, or on a Dask cluster. A task is a
    module-level function of one picklable argument, so that any process can run it; what it
    returns comes back to the coordinator, which merges. Adapters (adapters/executors.py):
    in-process (the default) and Dask distributed, chosen in bootstrap.py."""

    name: str  # what it says in a report: in-process, dask-local:2, dask://HOST:PORT

    def map(self, task: Callable[[_Item], _Outcome], items: Iterable[_Item]) -> Iterator[_Outcome]:
        """``task`` over ``items``, results in the items' order, each yielded when it and
        those before it are done; only a bounded window of items is in flight at a time, so
        neither side holds the whole run. A task's own exception is raised as it is; a
        scheduler or workers lost for good raise ``ExecutorError``."""
        ...

    def close(self) -> None: ...


class PendingAppend(Protocol):
    def wait(self) -> None:
        """Return once the entry is durable; raise ``StorageError`` if it never will be."""
        ...


class LedgerStore(Protocol):
    """Durable home of the journal, its projections and the engine's checkpoints.

    ``append`` is atomic and durable when it returns: the journal entry, its projection rows
    and the optional checkpoint all land, or none do. It refuses (``StorageError``) an entry
    whose ``seq`` and ``previous_hash`` do not extend the stored head, so two writers can never
    fork the chain.
    """

    def head(self) -> tuple[int, bytes]:
        """The last entry's seq and hash; (0, genesis hash) for an empty journal."""
        ...

    def append(
        self,
        entry: JournalEntry,
        records: Sequence[TransferRecord] = (),
        definitions: Sequence[Definition] = (),
        checkpoint: Checkpoint | None = None,
    ) -> None: ...

    def append_begin(self, entry: JournalEntry, records: Sequence[TransferRecord]) -> PendingAppend:
        """Start appending a transfer entry; it is durable only once ``wait()`` returns.

        At most one append is in flight; every other call waits for it first. This lets the
        service execute the next batch while the previous one is being committed.
        """
        ...

    def append_joined(
        self,
        entry: JournalEntry,
        records: Sequence[TransferRecord],
        companion: JournalEntry,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        """Append a transfers entry and the entry it caused (``companion``, the next seq,
        chained to it) in one transaction: both land or neither does. A venue's fills and the
        transfers charging their fees commit this way (service/ledger/transfers.py)."""
        ...

    def transfer_id_max(self) -> int:
        """The largest committed transfer id, 0 if none."""
        ...

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Persist a checkpoint as of the current head, with no new entry."""
        ...

    def past_states(
        self,
        seq_max: int = 2**63 - 1,
        count_max: int = limits.as_of_snapshots_max,
        bytes_max: int = limits.as_of_snapshot_bytes_max,
    ) -> list[StoredPastState]:
        """The persisted snapshots of the past at entries 1 to ``seq_max``, newest first, as
        stored (unchecked): at most ``count_max``, none with a body over ``bytes_max`` bytes,
        and only as many as fit in ``bytes_max`` in all. Chosen before any body is read, so a
        table filled by someone else costs a load no more than a valid one."""
        ...

    def keep_past_states(
        self, written: Sequence[StoredPastState], forgotten: Collection[int]
    ) -> bool:
        """In one transaction: forget the snapshots at the sequences ``forgotten``, then keep
        ``written`` (replacing any at the same sequence). Never part of a journal append.
        Derived work done beside a read, so it waits for no other writer: False, with nothing
        changed, when the store is busy with one (``StorageError`` when it refuses)."""
        ...

    def entries(
        self, after_seq: int = 0, kinds: Collection[EntryKind] | None = None
    ) -> Iterator[JournalEntry]:
        """Journal entries with seq > after_seq in order, optionally only of some kinds."""
        ...

    def transfers(self, ids: Collection[int]) -> dict[int, TransferRecord]:
        """Committed transfers among ``ids`` (absent ids are simply missing)."""
        ...

    def checkpoint(self) -> Checkpoint:
        """The whole state at the last checkpoint (seq 0 and empty before the first)."""
        ...

    def projected_transfers(self) -> Iterator[TransferRecord]:
        """Every row of the transfer projection in timestamp order, for audit."""
        ...

    def transfer_metadata(self, ids: Collection[int]) -> dict[int, bytes]:
        """The canonical metadata (core/ledger/metadata.py) of the committed transfers among
        ``ids`` that have some; transfers without metadata and absent ids are missing. The
        store keeps each transfer's pairs, cut out of the journal body when it is appended."""
        ...

    def transfers_with_metadata(
        self, metadata: Mapping[str, str], after_timestamp: int = 0
    ) -> Iterator[TransferRecord]:
        """Committed transfers stamped after ``after_timestamp`` whose metadata holds every
        pair of ``metadata`` (at least one), in timestamp order, through the store's index of
        pairs rather than a walk of every transfer."""
        ...

    def projected_metadata(self) -> Iterator[tuple[int, str, str]]:
        """Every row of the metadata projection, ``(transfer timestamp, key, value)``, in
        timestamp and key order, for audit."""
        ...

    def projected_definitions(self) -> dict[EntryKind, list[Definition]]:
        """The definition projections (assets, clients, pools, accounts), for audit."""
        ...

    def exclusive(self, name: str) -> AbstractContextManager[bool]:
        """The ledger's lock ``name``, tried across processes (never waited for): True while
        this caller holds it, False when another does. Released when the context ends, or
        when its holder dies. Reads inside it see what the previous holder committed."""
        ...

    def cut(self) -> AbstractContextManager[BalanceCut]:
        """A consistent cut of the client balances at the last checkpoint, held until the
        context ends, for batch tasks in other processes: PostgreSQL an exported snapshot,
        SQLite the file at its checkpoint's entry, memory a copy."""
        ...

    def close(self) -> None: ...


class Signer(Protocol):
    """Holds the journal key and signs with it; it decides nothing about what to sign (the
    service does). Adapters: a key file (development, small firms) and, later, an HSM through
    PKCS#11, whose key never leaves it."""

    def public_key(self) -> bytes | None:
        """The 32-byte Ed25519 public key, or None when no key has been made yet."""
        ...

    def create(self) -> bytes:
        """Make the key (for a new journal) and return its public key; refuse
        (``InputError`` ``journal_key_exists``) if there already is one."""
        ...

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``; ``InputError``
        ``journal_key_missing`` if there is no key."""
        ...


class WithdrawalChain(Protocol):
    """The chain side of a withdrawal: build the transaction an order allows, sign it after the
    signer's checks, broadcast it, count its confirmations. Every step refuses, with a named
    code, a transaction that is not exactly the order's."""

    def build(self, order: SpendOrder) -> str:
        """Build the unsigned transaction; return its id (the digest the signature binds)."""
        ...

    def sign(self, order: SpendOrder, spend_id: str) -> None:
        """Check the built transaction against ``order`` and sign it."""
        ...

    def broadcast(self, order: SpendOrder, spend_id: str) -> str:
        """Hand the signed transaction to the chain; return its chain transaction id."""
        ...

    def confirmations(self, order: SpendOrder, txid: str) -> int:
        """How many blocks confirm ``txid`` now (0 while unmined)."""
        ...

    def fee_paid(self, order: SpendOrder, txid: str) -> int:
        """The network fee the mined ``txid`` paid, in minor units of its chain's native asset
        (satoshis, wei), whatever the asset withdrawn: the ledger books it as ``network_fee``
        when the withdrawal is posted."""
        ...

    def abandon(self, order: SpendOrder, spend_id: str) -> None:
        """Give up the spend of a withdrawal voided before it was broadcast: its outputs
        (Bitcoin) or nonce (Ethereum) serve other spends again."""
        ...


class ChainKey(Protocol):
    """A secp256k1 key that signs 32-byte digests and nothing else: the signing service
    (service/spends.py) decides what may be signed. Adapter: a key on a PKCS#11 token
    (adapters/hsm_chain.py); tests also use a key in memory."""

    def public_key(self, compressed: bool = True) -> bytes | None:
        """The SEC 1 public key, or None if the key has not been made."""
        ...

    def sign_digest(self, digest: bytes) -> tuple[int, int]:
        """The ECDSA signature (r, s) of ``digest``, s in the lower half of the curve order."""
        ...

    def sign_recoverable(self, digest: bytes) -> bytes:
        """r || s || v (65 bytes, v 0 or 1), low S, as Ethereum transactions carry it."""
        ...


class SpendStore(Protocol):
    """Where spends are kept between the lifecycle's steps (and processes): each bound to one
    withdrawal once built. Adapters: a directory of JSON files (adapters/files/spends.py) and
    memory."""

    def get(self, spend_id: str) -> SpendRecord | None: ...

    def for_withdrawal(self, withdrawal_id: str) -> SpendRecord | None:
        """The spend built for the withdrawal (its latest, if one was abandoned), or None."""
        ...

    def put(self, record: SpendRecord) -> None:
        """Keep ``record`` whole (replacing the record of its spend id), durably."""
        ...

    def records(self) -> list[SpendRecord]: ...


class Broadcaster(Protocol):
    """Where a finalised Bitcoin transaction goes to reach the network. No Bitcoin node runs
    here, so the adapter is an outbox folder a relay (or an operator) sends from
    (adapters/chains/bitcoin_outbox.py)."""

    def broadcast(self, txid: str, raw: bytes) -> None: ...


class UtxoSnapshots(Protocol):
    """The Bitcoin UTXO snapshots known now, ascending by height (re-read on every call, so a
    new snapshot shows a spend confirmed)."""

    def snapshots(self) -> Sequence[Snapshot]: ...


class EthereumNode(Protocol):
    """What a spend needs from an Ethereum node (adapters/chains/ethereum_spends.py)."""

    chain_id: int

    def nonce(self, address: str) -> int:
        """The next nonce of ``address``, pending transactions included."""
        ...

    def fees(self) -> tuple[int, int]:
        """(max fee per gas, max priority fee per gas) to offer now, in wei."""
        ...

    def estimate_gas(self, sender: str, to: str, value: int, data: bytes) -> int: ...

    def balance(self, address: str, token_contract: str = "") -> int:
        """Wei, or the token's units held by ``address`` at the head."""
        ...

    def send(self, raw: bytes) -> str:
        """Send a signed transaction; its hash (0x and 64 lowercase hex digits)."""
        ...

    def confirmations(self, tx_hash: str) -> tuple[int, bool]:
        """(blocks confirming it, 0 while unmined; whether it succeeded)."""
        ...

    def fee_paid(self, tx_hash: str) -> int:
        """Wei the mined transaction paid for its gas (gas used times the effective price)."""
        ...


class StoredRound(Protocol):
    """One proof-of-reserves round as kept: its public record and reserves file, and its
    private build seed and trees (which answer proofs and let an auditor rebuild the round)."""

    number: int | None  # from where it is kept; None for a record found elsewhere
    location: str  # where its record is, to show
    reserves_location: str  # where its reserves file is, to show

    def record(self) -> Any:
        """The round record as parsed JSON; ``StorageError`` if there is none, ``InputError``
        ``line_malformed`` if it is not JSON."""
        ...

    def reserves_file(self) -> bytes | None:
        """The reserves file's exact bytes (the round pins their hash), or None."""
        ...

    def build_seed(self) -> bytes:
        """The 32-byte seed the round was built with; ``StorageError`` if missing."""
        ...

    def trees(
        self, assets: Mapping[str, Asset], record: Mapping[str, Any], master_secret: bytes
    ) -> dict[int, AssetTree]:
        """The stored trees of the record's assets (by asset number; assets without one left
        out), whole: a spilled round's are put together from its partitions."""
        ...

    def client_trees(
        self, assets: Mapping[str, Asset], record: Mapping[str, Any], master_secret: bytes,
        client: str,
    ) -> dict[int, AssetTree]:
        """Trees that answer ``client``'s proofs: the whole trees, or of a spilled round, in
        each asset, the partition that holds the client under the tree's top."""
        ...

    def private_trees(
        self, assets: Mapping[str, Asset], record: Mapping[str, Any], master_secret: bytes
    ) -> dict[int, PrivateTree]:
        """The stored private-mode trees of the record's private assets, by asset number."""
        ...

    def spilled(
        self, assets: Mapping[str, Asset], record: Mapping[str, Any], master_secret: bytes
    ) -> SpilledRound | None:
        """A spilled round's partitions, to audit without putting its trees together (None:
        the round's trees are kept whole)."""
        ...


@dataclass(frozen=True, slots=True)
class SpilledAssetCheck:
    """One asset of a spilled round, checked partition by partition: the root rebuilt from the
    journal, the stored root and height (None: the stored top cannot be read), the owed
    clients of the rebuilt tree (the sample's candidates), and each fault found in the stored
    partitions and top, named (empty: the stored tree is the rebuilt one)."""

    rebuilt_root: tuple[int, bytes]
    rebuilt_height: int
    stored_root: tuple[int, bytes] | None
    stored_height: int | None
    owed: int
    faults: tuple[str, ...]


class SpilledRound(Protocol):
    """A round whose trees are kept as partitions (``por build --spill``), audited as it was
    built: tasks on an executor rebuild each partition from a cut of the journal and compare
    it with the stored one, and proofs are read from the one partition holding a client
    (``adapters/por_spill_audit.py``). No process holds every client."""

    def asset_numbers(self) -> list[int]:
        """The assets it keeps a tree for (of the ledger's), ascending."""
        ...

    def check(
        self, executor: Executor, cut: BalanceCut, assets: Mapping[str, Asset], scratch: str,
        *, build_seed: bytes, clients_per_range: int,
    ) -> dict[int, SpilledAssetCheck]:
        """Rebuild every tree of ``assets`` (the ledger's at the snapshot) from ``cut`` into
        ``scratch`` (an empty directory the tasks reach) and compare it with the stored one,
        partition by partition; per asset number, what was found. Reads the stored round,
        never changes it."""
        ...

    def rebuilt_clients(self, asset_number: int, ranks: Sequence[int]) -> list[str]:
        """After ``check``: the owed clients of the rebuilt tree at ``ranks`` in name order."""
        ...

    def proofs(
        self, asset_number: int, clients: Sequence[str]
    ) -> dict[str, dict[str, Any] | str | None]:
        """After ``check``: each client's stored proof, read from the one partition holding
        them; a sentence saying why none is read (their partition or the top damaged); None
        when no stored partition holds them."""
        ...


class RoundStore(Protocol):
    """Where proof-of-reserves rounds are kept: the master secret clients' keys derive from
    and the round signing seed (both made once, never replaced, readable by the firm only),
    the round ``por challenges`` announced, and the rounds by number. Adapter: a directory
    (``adapters/files/rounds.py``)."""

    location: str  # where the rounds are, to show

    def numbers(self) -> list[int]:
        """The numbers of the rounds kept (each with its record), ascending."""
        ...

    def round(self, number: int) -> StoredRound:
        """Round ``number`` (its parts raise ``StorageError`` when read if it is not kept)."""
        ...

    def round_at(self, location: str) -> StoredRound:
        """The round whose record is at ``location`` (an auditor names a record file)."""
        ...

    def master_secret(self, create: bool) -> bytes:
        """The 32-byte master secret, made first if ``create``; else ``StorageError``."""
        ...

    def signing_seed(self) -> bytes:
        """The 32-byte Ed25519 seed rounds are signed with, made on first use."""
        ...

    def pending(self) -> Any:
        """The announced round as parsed JSON; ``StorageError`` if none was announced."""
        ...

    def save_pending(self, pending: Mapping[str, Any]) -> None:
        """Keep the announced round (replacing an earlier announcement)."""
        ...

    def save_round(
        self,
        number: int,
        record: Mapping[str, Any],
        trees: Mapping[int, AssetTree],
        build_seed: bytes,
        reserves_file: bytes | None,
        *,
        private_trees: Mapping[int, PrivateTree] | None = None,
        spilled: str | None = None,
    ) -> str:
        """Keep a built round whole or not at all (a failure leaves nothing that stops the
        next build) and return where its record is; a round already kept is never replaced. A
        spilled round's trees are its ``spill_folder`` (``trees`` hold only their tops)."""
        ...

    def clear_unfinished(self) -> list[str]:
        """Remove what a build stopped while saving left behind (never a kept round) and say
        where it was; ``save_round`` keeps a round whole or not at all, so only a process
        killed mid-save leaves any."""
        ...

    def spill_folder(self, number: int) -> str:
        """A new, empty directory, the firm's only, for a spilled build of round ``number``
        (kept by ``save_round``, removed by ``discard_spill``) or a spilled round's audit
        (removed by ``discard_spill``)."""
        ...

    def discard_spill(self, folder: str) -> None:
        """Remove a spilled build's directory (a build that failed)."""
        ...


class SpilledRoundBuilder(Protocol):
    """Builds and signs a round over a cut with every per-client figure written to ``folder``
    by the run's tasks, so that no process holds every client (``adapters/por_spill.py``).
    Returns the round (its trees hold only their tops: the folder answers proofs) and each
    asset's count of pieces. The same seed gives the in-memory build's round, bit for bit."""

    def __call__(
        self, executor: Executor, cut: BalanceCut, assets: Mapping[str, Asset], folder: str, *,
        snapshot: int, previous_round_hash: bytes, master_secret: bytes, signing_seed: bytes,
        seed: bytes, snapshot_hash: bytes | None, snapshot_ns: int | None,
        reserves: ReservesAttestation | None, clients_per_range: int,
    ) -> tuple[Round, dict[int, int]]: ...


class Clock(Protocol):
    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch."""
        ...

    def sleep_ns(self, nanoseconds: int) -> None:
        """Wait this long (a writer backing off after a conflict); a simulated clock moves."""
        ...


class HoldingsSource(Protocol):
    """Where holdings and inflows come from: a chain node, a UTXO snapshot, a custodian's
    statement. ``name`` goes into every observation's ``source``."""

    name: str

    def holdings(self, addresses: Collection[str]) -> list[Observation]:
        """What each of ``addresses`` holds now, per asset (addresses with nothing may be
        left out)."""
        ...

    def inflows(self, addresses: Collection[str], from_height: int) -> tuple[list[Inflow], int]:
        """Credits to ``addresses`` at heights ``from_height`` and above, and the last height
        the scan covered (the next scan starts after it). A source without heights returns
        everything it has and 0."""
        ...


class PriceSource(Protocol):
    """Where prices come from (a market data feed, a saved closing-price file). A statement
    values each asset with the price the source gives and names the source and its time."""

    def prices(self, assets: Collection[str], at_ns: int) -> dict[str, Price]:
        """The latest price at or before ``at_ns`` of each asset it knows (others left out)."""
        ...


class DevelopmentChain(Protocol):
    """A local development chain the demo may pay addresses on (anvil)."""

    source: HoldingsSource

    def pay(self, address: str, wei: int) -> str:
        """Pay ``address`` in a real transaction; its reference once mined."""
        ...

    def close(self) -> None: ...


class DemoChains(Protocol):
    """Where the demo's on-chain deposits come from: a UTXO snapshot it writes, and a local
    Ethereum node when one is installed."""

    def bitcoin_snapshot(self, text: bytes) -> HoldingsSource:
        """Keep ``text`` as a snapshot file and read it back as a holdings source."""
        ...

    def ethereum(self) -> DevelopmentChain | None:
        """A started development node, or None when none is installed."""
        ...


class RiskBookStore(Protocol):
    """A venue's book kept as one JSON-able document (instruments, buckets, positions, applied
    fill ids, liquidation state, the last market data and the risk configuration) by earlier
    versions, which kept it in a file beside the database (adapters/files/risk_book.py). The
    book now lives in the journal; this port only reads such a file for ``risk import-book``
    (and writes one, for tests that make one)."""

    def read(self) -> dict[str, object]:
        """The book; ``InputError``: ``field_required`` when there is none, ``line_malformed``
        when it is not one JSON object."""
        ...

    def write(self, document: dict[str, object]) -> None:
        """Replace the book whole: a reader sees the old book or the new, never a mix."""


class ReconFiles(Protocol):
    """The files an operator names for a reconciliation, a statement or a holdings export
    (``--observations``, ``--settings``, ``--prices``, ``wallets holdings --out``), in the
    formats of core/recon/files.py. Each is read whole, at most ``limits.recon_file_bytes_max``
    bytes; a file that cannot be read or written is an ``InputError`` naming it. Adapter: the
    local file system (adapters/files/recon.py); an API would hand uploaded bodies by name."""

    def observations(self, name: str, assets: Mapping[str, Asset]) -> list[Observation]:
        """Saved holdings (JSON lines), each of an asset of ``assets`` on its chain."""
        ...

    def settings(
        self, name: str, assets: Mapping[str, Asset], pools: Mapping[str, object]
    ) -> ReconSettings:
        """Residual-interest targets per pool and asset, and the commingling tolerance."""
        ...

    def prices(self, name: str) -> PriceSource:
        """Saved prices (JSON) as a price source."""
        ...

    def write_observations(self, name: str, observations: Sequence[Observation]) -> None:
        """Save holdings as the JSON lines ``observations`` reads back."""


class ScenarioFiles(Protocol):
    """Where failure scenarios come from (JSON, docs/insolvency.md): ``ringfence insolvency
    simulate`` and ``ringfence resolution-pack`` read them through this port."""

    def read_scenario(self, path: str) -> object:
        """The decoded scenario document at ``path``, bounded in size before it is read;
        ``InputError`` ``scenario_invalid`` when too large or not JSON in UTF-8."""
        ...


class PrincipalFiles(Protocol):
    """Principals' key files (the Ed25519 seed as hex, core/principals/authorisation.py) and
    the instructions signed with them. The ledger never stores a private key: only these
    files hold one."""

    def create_key(self, path: str, seed: bytes) -> None:
        """A new key file holding ``seed``, readable by its owner only; ``StorageError`` when
        one exists (a key file is never replaced) or it cannot be made."""
        ...

    def read_key(self, path: str) -> bytes:
        """The seed in the key file at ``path``; ``InputError`` ``signing_key_invalid`` when
        it is not a key file."""
        ...

    def write_lines(self, path: str, lines: Iterator[str]) -> None:
        """Write ``lines`` to ``path`` whole or not at all: a line refused on the way (the
        iterator raises) leaves no half-written file."""
        ...


class PackArchive(Protocol):
    """One resolution pack being written: its files stored in order, visible under the pack's
    name only once ``finish`` is called (a reader never sees half a pack)."""

    def add_bytes(self, name: str, data: bytes) -> None:
        """Store the file ``name`` holding ``data``."""
        ...

    def add_stream(self, name: str, chunks: Iterator[bytes]) -> None:
        """Store the file ``name`` from ``chunks``, one chunk in memory at a time."""
        ...

    def finish(self) -> None:
        """Close the pack and put it in place under its name."""
        ...

    def abandon(self) -> None:
        """Close the pack and remove what was written of it."""
        ...


class ResolutionPackFiles(Protocol):
    """Where resolution packs are written and read back (a zip file each, service/
    resolution_pack.py lists its contents)."""

    def create(self, path: str) -> PackArchive:
        """A new pack to be written to ``path`` (its folder made if need be)."""
        ...

    def names(self, path: str) -> list[str]:
        """The files in the pack at ``path``."""
        ...

    def read(self, path: str, name: str) -> bytes:
        """The bytes of the file ``name`` in the pack at ``path``."""
        ...

    def lines(self, path: str, name: str) -> Iterator[str]:
        """The text lines of the file ``name`` (UTF-8) in the pack at ``path``, streamed."""


@dataclass(slots=True)
class RawLine:
    """One line of a JSON-lines file; ``text`` is None for a line over
    ``limits.jsonl_line_bytes_max``, which is not kept."""

    number: int
    text: bytes | None
    names_linked: bool = False  # a kept line says it in its text; this is for dropped ones

    @property
    def is_blank(self) -> bool:
        return self.text is not None and not self.text.strip()

    def text_or_raise(self) -> bytes:
        if self.text is None:
            raise InputError(Result.line_too_long, f"more than {limits.jsonl_line_bytes_max} bytes")
        return self.text


class LineSource(Protocol):
    """A JSON-lines file read line by line, never holding more than one line's limit in memory
    (adapters/files/jsonl.py). ``count`` refuses a file of too many lines before anything is
    changed; ``lines`` may be read once per call."""

    def count(self) -> int:
        """The number of lines (``InputError`` ``batch_too_large`` past
        ``limits.jsonl_lines_max``)."""
        ...

    def lines(self) -> Iterator[RawLine]:
        """Each line with its number (a UTF-8 byte order mark at the start is not part of it)."""
        ...


class RegulatoryFiles(ReconFiles, Protocol):
    """The files a regulatory report names (``--register``, ``--policies``, ``--haircuts``,
    ``--requirements``), in the formats of core/regulatory/files.py, besides the
    reconciliation's own (observations, settings, prices). Each is read whole, at most
    ``limits.regulatory_file_bytes_max`` bytes, and comes back with the SHA-256 of its bytes.
    Adapter: the local file system (adapters/files/regulatory.py)."""

    def sub_custodian_register(
        self, name: str, wallets: Collection[str]
    ) -> SubCustodianRegister: ...

    def insurance_schedule(self, name: str, wallets: Collection[str]) -> InsuranceSchedule: ...

    def haircut_schedule(self, name: str, assets: Mapping[str, Asset]) -> HaircutSchedule: ...

    def margin_requirements(
        self,
        name: str,
        assets: Mapping[str, Asset],
        pools: Mapping[str, bool],
        clients: Collection[str],
    ) -> MarginRequirements: ...


class KeyStore(Protocol):
    """Where the service's API keys are kept: each key's record with its secret's argon2id
    hash (core/access/keys.py), never the secret. Kept apart from the journal, which auditors
    and clients' verifiers read (docs/api.md, "Where keys are kept"). Adapters: a SQLite file
    beside the database (adapters/keys/sqlite.py) and memory for tests."""

    def add(self, key: ApiKey) -> None:
        """Keep a new key; refuse (``InputError`` ``api_keys_exceeded``) beyond
        ``limits.api_keys_max``. Its id is new (the caller drew 64 random bits)."""
        ...

    def get(self, key_id: str) -> ApiKey | None:
        """The key's record as it stands now (a revocation by another process included)."""
        ...

    def revoke(self, key_id: str, at_ns: int) -> ApiKey | None:
        """Mark the key revoked at ``at_ns`` (an already revoked key keeps its time); None
        when there is no such key."""
        ...

    def named(self, name: str) -> list[ApiKey]:
        """The keys held by the principal ``name``, revoked ones included, oldest first (read
        on every request that presents a token: an index, not a scan)."""
        ...

    def records(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...

    def close(self) -> None: ...


class KeySetSource(Protocol):
    """Where the public keys that sign OIDC/JWT bearer tokens come from: a JSON Web Key Set
    (RFC 7517) as bytes, read afresh on each call. Adapters: a file and an issuer's
    ``jwks_uri`` over HTTPS (adapters/key_sets.py). The service (service/tokens.py) decides
    when to read it again, and what in it it accepts."""

    def read(self) -> bytes:
        """The key set's bytes, at most ``limits.token_key_set_bytes_max``; ``SourceError``
        when it cannot be read (a file missing, an issuer not answering)."""
        ...


class TokenRevocationSource(Protocol):
    """Where the list of bearer tokens revoked before their ``exp`` is kept (a file the
    operator edits: adapters/key_sets.py). The service reads it again whenever its stamp
    changes, so a revocation takes effect from the next request, without a restart."""

    location: str  # to name in errors

    def stamp(self) -> tuple[int, ...]:
        """What changes whenever the list does (a file's modification time, size and inode);
        ``SourceError`` when it cannot be read."""
        ...

    def read(self) -> bytes:
        """The list's bytes, at most ``limits.token_revocations_bytes_max`` (one more is read,
        so a longer list is refused whole); ``SourceError`` when it cannot be read."""
        ...


class WebhookStore(Protocol):
    """Where webhook subscriptions are kept, with their secrets and delivery cursors. Kept
    apart from the journal, like API keys: a secret has no place in a record that auditors and
    clients' verifiers read, and a cursor changes with every delivery. Adapters: a SQLite file
    beside the database (adapters/webhooks/sqlite.py) and memory for tests. Thread-safe: the
    server's delivery worker and its request threads use it at once."""

    def add(self, subscription: Subscription) -> None:
        """Keep a new subscription; refuse (``InputError`` ``webhook_subscriptions_exceeded``)
        beyond ``limits.webhook_subscriptions_max``."""
        ...

    def get(self, subscription_id: str) -> Subscription | None: ...

    def records(self) -> list[Subscription]:
        """Every subscription, oldest first."""
        ...

    def update(self, subscription: Subscription) -> bool:
        """Replace the delivery state (position, state, attempts, next attempt, error, count,
        version) of the stored subscription whose version is ``subscription.version - 1``;
        False, changing nothing, when it was changed (or removed) meanwhile."""
        ...

    def remove(self, subscription_id: str) -> bool:
        """Forget a subscription; False when there was none."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DeliveryAnswer:
    """What a receiver answered: its HTTP status, or None and why nothing came back."""

    status: int | None
    error: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender(Protocol):
    """Posts one signed webhook message (adapters/webhooks/http.py). It follows no redirect
    and waits at most ``timeout_s``; a failure to connect is an answer, not an exception."""

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> DeliveryAnswer: ...


@dataclass(frozen=True, slots=True)
class RememberedResponse:
    """A write's first answer, kept for its Idempotency-Key: the request's fingerprint (SHA-256
    of method, target and body), the status and the body sent."""

    fingerprint: bytes
    status: int
    body: bytes


class IdempotencyStore(Protocol):
    """Where the answers to writes with an ``Idempotency-Key`` are kept, by principal and key
    (service/idempotency.py), the most recent ``limits.idempotency_responses_max``. Adapters:
    a SQLite file beside the database, so a retry after a restart still answers as the first
    request did (adapters/idempotency/sqlite.py), a table in a PostgreSQL ledger's database
    (adapters/idempotency/postgres.py), and memory. Thread-safe."""

    def find(self, principal: str, key: str) -> RememberedResponse | None: ...

    def keep(self, principal: str, key: str, response: RememberedResponse) -> None:
        """Keep the answer (the first one for a key stays: a key is answered once), and
        forget the oldest beyond the limit."""
        ...

    def close(self) -> None: ...


class ControlSigner(Protocol):
    """Wallet keys that sign proof-of-control challenges (core/custody/control.py). Adapter:
    key files (adapters/control_keys.py); a firm's HSM or signers' wallets would be others."""

    def signature(self, chain: str, address: str, message: str) -> str | None:
        """``address``'s signature of ``message`` (EIP-191 or BIP-322 simple), or None when
        this signer does not hold its key."""
        ...
