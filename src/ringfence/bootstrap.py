"""The composition root: the one place where adapters are chosen and wired.

It refuses to start under ``python -O``: the engine's assertions are part of its safety (they
check invariants where they are made and where they are relied on), and ``-O`` strips them.

Length (over 500 lines, argued): it is the one place where an adapter is named, by design —
every choice of store, signer, chain, executor and file is visible side by side, and each
function is a few lines of wiring with its import inside, so nothing loads before it is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher

from ringfence.adapters.clock import ManualClock, SystemClock
from ringfence.adapters.executors import in_process, open_executor
from ringfence.adapters.files.insolvency import JsonScenarioFiles
from ringfence.adapters.files.principals import LocalPrincipalFiles
from ringfence.adapters.files.resolution_pack import ZipResolutionPackFiles
from ringfence.adapters.signing import KeyFileSigner, MemorySigner, NoSigner, write_key_file
from ringfence.adapters.storage import sqlite, urls
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore, path_of
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.service.keys import KeyVerifier, default_hasher
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import (
    Clock,
    ControlSigner,
    DevelopmentChain,
    Executor,
    HoldingsSource,
    IdempotencyStore,
    KeySetSource,
    KeyStore,
    LedgerStore,
    LineSource,
    ReconFiles,
    RegulatoryFiles,
    RiskBookStore,
    RoundStore,
    Signer,
    SpilledRoundBuilder,
    WebhookSender,
    WebhookStore,
    WithdrawalChain,
)
from ringfence.service.sessions import Sessions

if TYPE_CHECKING:
    from ringfence.core.access.tokens import TokenSettings
    from ringfence.service.spends import SpendService
    from ringfence.service.tokens import TokenVerifier

default_url = "sqlite:///ringfence.db"
journal_key_suffix = ".journal-key"


def database_url(url: str | None = None) -> str:
    """The URL given, else ``RINGFENCE_DB``, else the default SQLite file."""
    return url or os.environ.get("RINGFENCE_DB") or default_url


def redacted_url(url: str) -> str:
    """A database URL fit to print: any password in it replaced by ``***``."""
    return urls.redacted(url)


def open_store(url: str, create: bool = True) -> LedgerStore:
    """The store at ``url``; without ``create`` a SQLite file that is not already a ringfence
    database is refused, untouched."""
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite:"):
        return SqliteStore(path_of(url), create)
    if url.startswith(urls.url_prefixes):
        # Imported only here: a command on an SQLite file should not wait for psycopg.
        from ringfence.adapters.storage.postgres import PostgresStore

        return PostgresStore(url)
    raise StorageError(
        f"unsupported database URL {redacted_url(url)!r} "
        "(use sqlite:///PATH, postgresql://[USER@]HOST[:PORT]/DATABASE or memory://)"
    )


def schema_status(url: str) -> dict[str, Any]:
    """Where the database's schema stands, without changing it (``ringfence db status``)."""
    if url.startswith(urls.url_prefixes):
        from ringfence.adapters.storage import postgres

        status = postgres.schema_status(url)
        return {
            "ok": True,
            "engine": "postgresql",
            "version": status.version,
            "latest": status.latest,
            "current": status.current,
            "applied": [
                {"version": version, "name": name, "applied_at": applied_at}
                for version, name, applied_at in status.applied
            ],
            "pending": [{"version": version, "name": name} for version, name in status.pending],
        }
    if url.startswith("sqlite:"):
        # SQLite's store refuses a version it does not know on open.
        SqliteStore(path_of(url), create=False).close()
        return {
            "ok": True,
            "engine": "sqlite",
            "version": sqlite.schema_version,
            "latest": sqlite.schema_version,
            "current": True,
            "applied": [],
            "pending": [],
        }
    raise StorageError(
        f"{redacted_url(url)!r} has no schema to report (use sqlite:///PATH or postgresql://)"
    )


def upgrade_schema(url: str) -> list[int]:
    """Apply the pending migrations (``ringfence db upgrade``); return the versions applied."""
    if url.startswith(urls.url_prefixes):
        from ringfence.adapters.storage import postgres

        return postgres.upgrade(url)
    schema_status(url)  # SQLite: opening checks the version; there is nothing to migrate
    return []


def simulated_clock(start_ns: int) -> Clock:
    """A clock that starts at ``start_ns`` and moves only when a simulation advances it."""
    return ManualClock(start_ns)


def journal_key_path(url: str, key_file: str | None = None) -> Path | None:
    """Where the journal key lives: the file given, else ``RINGFENCE_JOURNAL_KEY``, else beside
    an SQLite database (``PATH.journal-key``); None for memory and PostgreSQL ledgers."""
    given = key_file or os.environ.get("RINGFENCE_JOURNAL_KEY")
    if given:
        return Path(given)
    if url.startswith("sqlite:"):
        return Path(path_of(url) + journal_key_suffix)
    return None


def create_key_file(path: Path, seed: bytes) -> None:
    """A new key file holding ``seed`` (``FileExistsError``: a key file is never replaced)."""
    write_key_file(path, seed)


def journal_signer(url: str, key_file: str | None = None) -> Signer:
    """The signer of the journal at ``url``: its key file (made with a new journal), a key on
    an HSM when the key is a ``pkcs11:`` URI, a key in memory for ``memory://``, or none (a
    PostgreSQL ledger then only reads)."""
    spec = key_file or os.environ.get("RINGFENCE_JOURNAL_KEY")
    if spec and spec.startswith("pkcs11:"):
        return hsm_journal_signer(spec)
    path = journal_key_path(url, key_file)
    if path is not None:
        return KeyFileSigner(path)
    if url == "memory://":
        return MemorySigner()
    return NoSigner("writing needs the journal key: --journal-key FILE or RINGFENCE_JOURNAL_KEY")


def hsm_journal_signer(spec: str) -> Signer:
    """The journal key on a PKCS#11 token, ``pkcs11:token=LABEL;object=LABEL`` (RFC 7512; the
    module from the URI's ``?module-path=``, else ``RINGFENCE_PKCS11_MODULE``, else SoftHSM2's).
    The user PIN comes from ``RINGFENCE_HSM_PIN`` only: a key spec ends up on command lines."""
    from ringfence.adapters import hsm

    module_path = os.environ.get("RINGFENCE_PKCS11_MODULE") or hsm.default_module_path
    location = hsm.parse_key_uri(spec, module_path)
    return hsm.HsmJournalSigner(location, os.environ.get("RINGFENCE_HSM_PIN"))


def open_ledger(
    url: str | None = None,
    clock: Clock | None = None,
    create: bool = True,
    journal_key: str | None = None,
) -> LedgerService:
    """Open the ledger at ``url`` for reading and writing (``create``: a new SQLite file gets
    its schema; the journal key in the file ``journal_key``, see ``journal_key_path``); close
    it when done."""
    if not __debug__:
        raise RuntimeError("ringfence refuses to run under python -O: its assertions are checks")
    url = database_url(url)
    store = open_store(url, create)
    try:
        return LedgerService(store, clock or SystemClock(), journal_signer(url, journal_key))
    except BaseException:
        store.close()
        raise


def ethereum_source(
    rpc_url: str, native_asset: str, tokens: dict[str, str], chain_id: int, confirmations: int
) -> HoldingsSource:
    """Holdings and inflows from an Ethereum JSON-RPC node that must answer ``chain_id``,
    read ``confirmations`` blocks below its head (tokens: contract -> asset code)."""
    from ringfence.adapters.chains.ethereum import EthereumHoldings

    return EthereumHoldings(rpc_url, native_asset, tokens, confirmations, chain_id=chain_id)


def utxo_snapshot_source(paths: list[str], network: str) -> HoldingsSource:
    """Bitcoin holdings and inflows from UTXO-set snapshot files (no node needed)."""
    from ringfence.adapters.chains.utxo_snapshot import UtxoSnapshotSource

    return UtxoSnapshotSource(paths, network)


class DemoChainFiles:
    """The demo's chains: its UTXO snapshot kept in ``folder``; anvil when installed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def bitcoin_snapshot(self, text: bytes) -> HoldingsSource:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "utxo-snapshot.csv"
        path.write_bytes(text)
        return utxo_snapshot_source([str(path)], "mainnet")

    def ethereum(self) -> DevelopmentChain | None:
        from ringfence.adapters.chains.devnode import DevelopmentNode, anvil_path

        binary = anvil_path()
        return None if binary is None else DevelopmentNode(binary)


executor_default = in_process


@contextmanager
def executor(spec: str = executor_default) -> Iterator[Executor]:
    """Where batch runs execute (``--executor``): ``in-process``, ``dask-local:N`` (a local
    cluster of N worker processes, started now and closed after) or ``dask://HOST:PORT`` (a
    running cluster's scheduler); see adapters/executors.py."""
    opened = open_executor(spec)
    try:
        yield opened
    finally:
        opened.close()


def risk_book(path: Path) -> RiskBookStore:
    """A venue's book kept as a JSON file at ``path`` by earlier versions (``risk import-book``)."""
    from ringfence.adapters.files.risk_book import RiskBookFile

    return RiskBookFile(path)


def recon_files() -> ReconFiles:
    """The files a reconciliation, a statement or a holdings export names: local paths."""
    from ringfence.adapters.files.recon import LocalReconFiles

    return LocalReconFiles()


def scenario_files() -> JsonScenarioFiles:
    """Failure scenarios read from files (``ringfence insolvency``, ``ringfence
    resolution-pack``): the service's ``ScenarioFiles`` port."""
    return JsonScenarioFiles()


def principal_files() -> LocalPrincipalFiles:
    """Principals' key files and signed transfer files: the service's ``PrincipalFiles``
    port."""
    return LocalPrincipalFiles()


def resolution_pack_files() -> ZipResolutionPackFiles:
    """Resolution packs as zip files: the service's ``ResolutionPackFiles`` port."""
    return ZipResolutionPackFiles()


def control_signer(key_files: Sequence[str]) -> ControlSigner:
    """Wallet keys in files that sign proof-of-control challenges (``por sign``)."""
    from ringfence.adapters.control_keys import KeyFileControlSigner

    return KeyFileControlSigner(key_files)


def spilled_round_builder() -> SpilledRoundBuilder:
    """The bounded-memory build of a round (``por build --spill``): its tasks write every
    per-client figure to the round's directory (``adapters/por_spill.py``)."""
    from ringfence.adapters.por_spill import build_spilled

    return build_spilled


def round_store(url: str, folder: str | None = None) -> RoundStore:
    """Where the proof-of-reserves rounds of the ledger at ``url`` are kept: ``folder``, else
    ``por/`` beside a SQLite database, else ``./por``."""
    from ringfence.adapters.files.rounds import RoundFiles

    if folder is not None:
        return RoundFiles(Path(folder))
    if url.startswith("sqlite:///"):
        return RoundFiles(Path(url[len("sqlite:///") :]).parent / "por")
    return RoundFiles(Path("por"))


def regulatory_files() -> RegulatoryFiles:
    """The files a regulatory report names (and the reconciliation's): local paths."""
    from ringfence.adapters.files.regulatory import LocalRegulatoryFiles

    return LocalRegulatoryFiles()


# ---------------------------------------------------------------------- the service

api_keys_suffix = ".api-keys"


def api_keys_path(url: str, keys_file: str | None = None) -> Path | None:
    """Where API keys are kept: the file given, else ``RINGFENCE_API_KEYS``, else beside an
    SQLite database (``PATH.api-keys``); None (in memory) for ``memory://``."""
    given = keys_file or os.environ.get("RINGFENCE_API_KEYS")
    if given:
        return Path(given)
    if url.startswith("sqlite:"):
        return Path(path_of(url) + api_keys_suffix)
    if url == "memory://":
        return None
    raise StorageError("API keys need a file: --api-keys FILE or RINGFENCE_API_KEYS")


def open_key_store(url: str, keys_file: str | None = None) -> KeyStore:
    from ringfence.adapters.keys.memory import MemoryKeyStore
    from ringfence.adapters.keys.sqlite import SqliteKeyStore

    path = api_keys_path(url, keys_file)
    return MemoryKeyStore() if path is None else SqliteKeyStore(path)


webhooks_suffix = ".webhooks"


def webhooks_path(url: str, webhooks_file: str | None = None) -> Path | None:
    """Where webhook subscriptions are kept: the file given, else ``RINGFENCE_WEBHOOKS``, else
    beside an SQLite database (``PATH.webhooks``); None (in memory) for ``memory://``."""
    given = webhooks_file or os.environ.get("RINGFENCE_WEBHOOKS")
    if given:
        return Path(given)
    if url.startswith("sqlite:"):
        return Path(path_of(url) + webhooks_suffix)
    if url == "memory://":
        return None
    raise StorageError("webhooks need a file: --webhooks FILE or RINGFENCE_WEBHOOKS")


def open_webhook_store(url: str, webhooks_file: str | None = None) -> WebhookStore:
    from ringfence.adapters.webhooks.memory import MemoryWebhookStore
    from ringfence.adapters.webhooks.sqlite import SqliteWebhookStore

    path = webhooks_path(url, webhooks_file)
    return MemoryWebhookStore() if path is None else SqliteWebhookStore(path)


def webhook_sender() -> WebhookSender:
    """Webhook messages posted over HTTP(S)."""
    from ringfence.adapters.webhooks.http import HttpWebhookSender

    return HttpWebhookSender()


idempotency_suffix = ".idempotency"


def open_idempotency_store(url: str, idempotency_file: str | None = None) -> IdempotencyStore:
    """The answers to writes with an Idempotency-Key: a file (the one given, else
    ``RINGFENCE_IDEMPOTENCY``, else ``PATH.idempotency`` beside an SQLite database); a table
    beside the journal of a PostgreSQL ledger; memory for ``memory://`` (a restart forgets
    them)."""
    from ringfence.adapters.idempotency.memory import MemoryIdempotencyStore
    from ringfence.adapters.idempotency.sqlite import SqliteIdempotencyStore

    given = idempotency_file or os.environ.get("RINGFENCE_IDEMPOTENCY")
    if given:
        return SqliteIdempotencyStore(Path(given))
    if url.startswith("sqlite:"):
        return SqliteIdempotencyStore(Path(path_of(url) + idempotency_suffix))
    if url.startswith(urls.url_prefixes):
        from ringfence.adapters.idempotency.postgres import PostgresIdempotencyStore

        return PostgresIdempotencyStore(url)
    return MemoryIdempotencyStore()


@dataclass
class ServiceBundle:
    """What ``ringfence serve`` runs on: the ledger, the API keys and their verifier, the
    signed-in sessions of its pages, the webhook subscriptions and the sender that delivers to
    them, and where the proof-of-reserves rounds and the venue's risk book are kept (None: the
    defaults beside the database, which the pages show as none)."""

    ledger: LedgerService
    keys: KeyStore
    verifier: KeyVerifier
    clock: Clock
    url: str = "memory://"
    journal_key: str | None = None
    sessions: Sessions | None = None
    webhooks: WebhookStore = field(default_factory=lambda: open_webhook_store("memory://"))
    sender: WebhookSender = field(default_factory=webhook_sender)
    idempotency: IdempotencyStore = field(
        default_factory=lambda: open_idempotency_store("memory://")
    )
    rounds: RoundStore | None = None  # proof-of-reserves rounds; None: the default folder
    # OIDC/JWT bearer tokens beside the API keys (service/tokens.py); None: keys only.
    tokens: TokenVerifier | None = None
    # The chain side of withdrawals over a ledger (None: none configured), made per call so
    # that it reads the ledger the call holds; by default as the command line makes it.
    chain_of: Callable[[LedgerService], WithdrawalChain | None] = field(
        default_factory=lambda: withdrawal_chain
    )

    def round_store(self) -> RoundStore:
        return self.rounds or round_store(self.url)

    @staticmethod
    def uploaded(documents: Mapping[str, bytes]) -> RegulatoryFiles:
        """The documents of a request, read as the files the command line names."""
        from ringfence.adapters.files.uploaded import UploadedFiles

        return UploadedFiles(documents)

    def current(self) -> LedgerService:
        """The ledger, reopened first if another writer appended since it was loaded: the
        service holds the ledger in memory, and a read must not answer from an older state.
        One head query per call (the caller holds the service's lock)."""
        if self.url == "memory://":  # nothing outside this process can write to it
            return self.ledger
        seq, _ = self.ledger.store.head()
        if seq != self.ledger.seq:
            behind = self.ledger
            self.ledger = open_ledger(
                self.url, self.clock, create=False, journal_key=self.journal_key
            )
            # Its store only: closing the service would checkpoint a state the journal has
            # moved past. What it wrote is in the journal, which the new one loaded.
            behind.store.close()
        return self.ledger

    def close(self) -> None:
        try:
            self.ledger.close()
        finally:
            try:
                self.keys.close()
            finally:
                self.webhooks.close()
                self.idempotency.close()


def open_service(
    url: str | None = None,
    journal_key: str | None = None,
    keys_file: str | None = None,
    *,
    hasher: PasswordHasher | None = None,
    ledger: LedgerService | None = None,
    webhooks_file: str | None = None,
    rounds_folder: str | None = None,
    rounds: RoundStore | None = None,
    tokens: TokenSettings | None = None,
    key_set: str | None = None,
    token_revocations: str | None = None,
) -> ServiceBundle:
    """The ledger at ``url`` (or the one given, for tests) with its API keys and webhook
    subscriptions, opened for the service; close it when done. ``hasher``: argon2id
    parameters (default RFC 9106's). The proof-of-reserves rounds: ``rounds`` (tests), else
    ``rounds_folder``, else ``round_store(url)`` (none for a ledger in memory); the venue's
    book is in the ledger's journal. With ``tokens``, OIDC/JWT bearer tokens
    are accepted beside API keys, verified with the keys of ``key_set`` (a file or a URL), and
    refused when the list in the file ``token_revocations`` revokes them."""
    if token_revocations is not None and tokens is None:
        raise InputError(Result.token_settings_invalid, "token revocations without tokens")
    url = database_url(url)
    keys = open_key_store(url, keys_file)
    webhooks: WebhookStore | None = None
    try:
        webhooks = open_webhook_store(url, webhooks_file)
        opened = ledger or open_ledger(url, journal_key=journal_key, create=False)
    except BaseException:
        keys.close()
        if webhooks is not None:
            webhooks.close()
        raise
    verifier = KeyVerifier(keys, hasher or default_hasher())
    bundle = ServiceBundle(
        opened,
        keys,
        verifier,
        opened.clock,
        url,
        journal_key,
        sessions=Sessions(verifier, opened.clock),
        webhooks=webhooks,
        sender=webhook_sender(),
    )
    bundle.idempotency = open_idempotency_store(url)
    if tokens is not None:
        try:
            bundle.tokens = token_verifier(tokens, key_set, opened.clock, token_revocations)
        except BaseException:
            bundle.close()
            raise
    if rounds is None and (rounds_folder is not None or url != "memory://"):
        rounds = round_store(url, rounds_folder)
    bundle.rounds = rounds
    return bundle


def key_set_source(where: str) -> KeySetSource:
    """The keys that sign bearer tokens: an issuer's ``jwks_uri`` (``https://``), or a file."""
    from ringfence.adapters.key_sets import KeySetFile, KeySetUrl

    if where.startswith(("https://", "http://")):
        return KeySetUrl(where)
    return KeySetFile(Path(where))


def token_verifier(
    settings: TokenSettings, key_set: str | None, clock: Clock, revocations: str | None = None
) -> TokenVerifier:
    """The verifier of bearer tokens: ``key_set`` is required with token settings; with
    ``revocations``, the file listing the tokens revoked before their ``exp``."""
    if not key_set:
        raise InputError(Result.token_settings_invalid, "a key set (file or URL) for the tokens")
    from ringfence.adapters.key_sets import TokenRevocationFile
    from ringfence.service.tokens import RevokedTokens, TokenVerifier

    revoked = None if revocations is None else RevokedTokens(TokenRevocationFile(Path(revocations)))
    return TokenVerifier(key_set_source(key_set), settings, clock, revoked)


def system_clock() -> Clock:
    return SystemClock()


def jsonl_file(path: Path) -> LineSource:
    """The JSON-lines file at ``path``, read line by line (transfers, accounts, principals)."""
    from ringfence.adapters.files.jsonl import JsonlFile

    return JsonlFile(path)


def withdrawal_chain(
    ledger: LedgerService, settings_path: str | None = None
) -> WithdrawalChain | None:
    """The chain side of withdrawals (build, sign after the signer's checks, broadcast,
    confirm): the signing service of ``spend_service`` when a settings file is named
    (``settings_path``, else ``RINGFENCE_SPENDS``). Without one, None: withdrawals are then
    decided, approved, held and expired, and wait, held, for a chain to pay them."""
    if not (settings_path or os.environ.get("RINGFENCE_SPENDS")):
        return None
    return spend_service(ledger, settings_path)


def spend_service(ledger: LedgerService, settings_path: str | None = None) -> SpendService:
    """The signing service (service/spends.py) as the settings file names it
    (``settings_path``, else ``RINGFENCE_SPENDS``; adapters/files/spend_settings.py): its keys
    on PKCS#11 tokens (PIN from ``RINGFENCE_HSM_PIN``), its spend folder, the Bitcoin snapshot
    and outbox folders and the Ethereum node."""
    from ringfence.adapters import hsm
    from ringfence.adapters.chains.bitcoin_outbox import OutboxBroadcaster
    from ringfence.adapters.chains.ethereum_spends import EthereumSpendNode
    from ringfence.adapters.chains.utxo_snapshot import SnapshotFolder
    from ringfence.adapters.files.spend_settings import read_spend_settings
    from ringfence.adapters.files.spends import SpendDirectory
    from ringfence.adapters.hsm_chain import HsmChainSigner
    from ringfence.core.custody.addresses import Network
    from ringfence.core.custody.spends import SpendScript
    from ringfence.service.custody import CustodyService
    from ringfence.service.spends import BitcoinChain, WalletSigning

    given = settings_path or os.environ.get("RINGFENCE_SPENDS")
    if not given:
        raise InputError(Result.spend_keys_invalid, "no settings: set RINGFENCE_SPENDS")
    settings = read_spend_settings(Path(given))
    module_path = os.environ.get("RINGFENCE_PKCS11_MODULE") or hsm.default_module_path
    pin = os.environ.get("RINGFENCE_HSM_PIN")
    signing = {}
    for name, wallet in settings.wallets.items():
        keys = tuple(
            HsmChainSigner(hsm.parse_key_uri(uri, module_path), pin) for uri in wallet.keys
        )
        script = SpendScript(wallet.script, wallet.threshold) if wallet.script else None
        signing[name] = WalletSigning(name, keys, script)
    bitcoin = None
    if settings.bitcoin is not None:
        section = settings.bitcoin
        network = Network(section["network"])
        bitcoin = BitcoinChain(
            SnapshotFolder(Path(section["snapshots"]), network),
            OutboxBroadcaster(Path(section["outbox"])),
            network,
            int(section["fee_rate_sat_per_kvb"]),
        )
    ethereum = None
    if settings.ethereum is not None:
        ethereum = EthereumSpendNode(
            str(settings.ethereum["rpc_url"]), int(settings.ethereum["chain_id"])
        )
    store = SpendDirectory(settings.store)
    from ringfence.service.spends import SpendService

    return SpendService(CustodyService(ledger), store, signing, bitcoin, ethereum)
