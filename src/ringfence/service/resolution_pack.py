"""The resolution pack (CASS 10, regulation.md §7 R9): everything an insolvency practitioner
needs to hand clients' assets back, in one zip file, each file listed with its SHA-256.

Contents (``pack_files`` in the index say which are present):

- ``index.json`` and ``INDEX.txt``: the master index, machine- and human-readable: every other
  file with its SHA-256, size, rows and what it holds; the journal head it was cut at.
- ``firm.json``: assets, counts, the journal's latest sequence number and hash.
- ``pools.json``: each pool's kind, terms (custody or title transfer), purpose and client, and
  per asset its book holdings, liabilities to clients, residual interest and open breaks.
- ``wallets.json``: wallets with chain, scheme, network, keys and signing arrangement, pool
  designation and its history, tier, encumbrances, and book holdings per asset.
- ``addresses.csv``, ``client_addresses.csv``: every assigned address (wallet, derivation
  index, change, client) and every registered client address outside the firm.
- ``clients.csv``, ``accounts.csv``, ``positions.csv``: the clients; every account definition;
  each client account's posted balance and pending debits and credits.
- ``transfers.csv``: every committed transfer, so that each position can be rebuilt from the
  pack alone (``rebuild_positions``) and traced through the client's history.
- ``breaks.json``: every segregation break, open ones first.
- ``audit.json``: the result of replaying the journal (``audit verify``).
- ``reconciliation/``: the latest journaled reconciliation runs (internal and external), a
  segregation statement with the internal reconciliation as of the pack, and the
  reconciliation breaks with their lifecycle.
- ``insolvency.json``: a failure simulation, when a scenario is given, and its in-kind return
  schedule (``regulatory/in_kind_returns.json`` and ``.csv``, service/in_kind.py).
- ``regulatory/sub_custodians.json``, ``regulatory/insurance.json``: the sub-custodian register
  and the insurance schedule as of the pack, when their files are named
  (service/resolution_pack_regulatory.py).

The pack is written through the ``ResolutionPackFiles`` port (adapters/files/resolution_pack.py
writes a zip beside its final name and renames it, so no reader sees half of one); each file is
encoded and hashed here as it is streamed into the pack, so memory stays bounded by one chunk
of rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ringfence.core.custody.registry import Scheme
from ringfence.core.errors import IntegrityError
from ringfence.core.ledger.model import AccountClass, BreakState, TransferCode, TransferFlags
from ringfence.core.money import Asset, format_amount, format_signed_amount
from ringfence.service.audit import verify_store
from ringfence.service.csv_cells import spreadsheet_safe_row
from ringfence.service.custody import CustodyService
from ringfence.service.in_kind import in_kind_schedule, row_header, schedule_rows
from ringfence.service.insolvency import simulate_ledger
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import PackArchive, ResolutionPackFiles, ScenarioFiles
from ringfence.service.resolution_pack_reading import verify_pack
from ringfence.service.resolution_pack_regulatory import (
    PackDocument,
    RegulatoryInputs,
    regulatory_documents,
)

Progress = Callable[[str, int, int], None]
pack_format = "ringfence.resolution-pack/1"
rows_per_chunk = 20_000  # rows encoded and written at a time
recon_runs_in_pack = 10  # the latest reconciliation runs included
_signing = {
    Scheme.address: "one fixed address; signing key held outside the registry",
    Scheme.bip84: "single-signature P2WPKH addresses from one account xpub (BIP84)",
    Scheme.multisig: "2-of-3 multisignature P2WSH from three account xpubs (BIP67-sorted)",
    Scheme.eth: "single-signature Ethereum addresses from one account xpub (BIP44)",
}


@dataclass
class _Pack:
    archive: PackArchive
    files: list[dict[str, Any]] = field(default_factory=list)

    def add_bytes(self, name: str, data: bytes, about: str, rows: int | None = None) -> None:
        self.archive.add_bytes(name, data)
        self._listed(name, hashlib.sha256(data).hexdigest(), len(data), about, rows)

    def add_json(self, name: str, document: object, about: str) -> None:
        text = json.dumps(document, indent=1, sort_keys=True) + "\n"
        self.add_bytes(name, text.encode(), about)

    def add_rows(
        self, name: str, header: list[str], rows: Iterable[list[object]], about: str
    ) -> int:
        """Stream CSV rows into the archive, hashing as they go; returns the row count."""
        digest = hashlib.sha256()
        size = count = 0

        def encoded() -> Iterator[bytes]:
            nonlocal size, count
            for text, rows_in_chunk in _csv_chunks(header, rows):
                data = text.encode()
                digest.update(data)
                size += len(data)
                count += rows_in_chunk
                yield data

        self.archive.add_stream(name, encoded())
        self._listed(name, digest.hexdigest(), size, about, count)
        return count

    def _listed(self, name: str, sha256: str, size: int, about: str, rows: int | None) -> None:
        entry: dict[str, Any] = {"file": name, "sha256": sha256, "bytes": size, "about": about}
        if rows is not None:
            entry["rows"] = rows
        self.files.append(entry)


def _csv_chunks(header: list[str], rows: Iterable[list[object]]) -> Iterator[tuple[str, int]]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(spreadsheet_safe_row(row))
        count += 1
        if count % rows_per_chunk == 0:
            yield buffer.getvalue(), rows_per_chunk
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue(), count % rows_per_chunk


def write_resolution_pack(
    ledger: LedgerService,
    files: ResolutionPackFiles,
    out: str,
    *,
    scenarios: ScenarioFiles,
    scenario: str | None = None,
    regulatory: RegulatoryInputs | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``ringfence resolution-pack``: the pack written to ``out`` as of now (with a failure
    simulation of the scenario file ``scenario``, and the regulatory files named, if given) and
    checked against its own index before its index is returned; ``IntegrityError`` if it does
    not match."""
    document = None if scenario is None else scenarios.read_scenario(scenario)
    return write_pack_of(
        ledger, files, out, scenario=document, regulatory=regulatory, progress=progress
    )


def write_pack_of(
    ledger: LedgerService,
    files: ResolutionPackFiles,
    out: str,
    *,
    scenario: object | None = None,
    regulatory: RegulatoryInputs | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``write_resolution_pack`` with the failure scenario given as its JSON document (the
    REST API's, which takes it in the request body)."""
    simulation = None if scenario is None else simulate_ledger(ledger, scenario, progress)
    now_ns = ledger.clock.now_ns()
    extra = [] if regulatory is None else regulatory_documents(ledger, regulatory)
    index = build_pack(
        ledger, files, out, now_ns, simulation=simulation, documents=extra, progress=progress
    )
    problems = verify_pack(files, out)
    if problems:
        raise IntegrityError(f"the pack does not match its index: {'; '.join(problems)}")
    return index


def build_pack(
    ledger: LedgerService,
    files: ResolutionPackFiles,
    out: str,
    generated_at_ns: int,
    *,
    simulation: Mapping[str, Any] | None = None,
    documents: Sequence[PackDocument] = (),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the pack to ``out`` (a .zip path), with ``documents`` besides its own files, and
    return its index."""
    archive = files.create(out)
    try:
        index = _fill(
            _Pack(archive), ledger, generated_at_ns,
            simulation=simulation, documents=documents, progress=progress,
        )
    except BaseException:
        archive.abandon()
        raise
    archive.finish()
    return index


def _fill(
    pack: _Pack,
    ledger: LedgerService,
    generated_at_ns: int,
    *,
    simulation: Mapping[str, Any] | None,
    documents: Sequence[PackDocument],
    progress: Progress | None,
) -> dict[str, Any]:
    report = progress or (lambda stage, done, total: None)
    custody = CustodyService(ledger)
    stages: list[tuple[str, Callable[[], None]]] = [
        ("firm", lambda: _add_firm(pack, ledger)),
        ("pools", lambda: _add_pools(pack, ledger)),
        ("wallets", lambda: _add_wallets(pack, ledger, custody, generated_at_ns)),
        ("clients and positions", lambda: _add_clients(pack, ledger)),
        ("transfers", lambda: _add_transfers(pack, ledger)),
        ("breaks", lambda: _add_breaks(pack, ledger)),
        ("reconciliation", lambda: _add_reconciliation(pack, custody)),
        ("audit", lambda: _add_audit(pack, ledger)),
    ]
    for done, (stage, add) in enumerate(stages):
        report(stage, done, len(stages))
        add()
    if simulation is not None:
        pack.add_json("insolvency.json", simulation, "a failure simulation (insolvency)")
        schedule = in_kind_schedule(simulation)
        pack.add_json("regulatory/in_kind_returns.json", schedule,
                      "in-kind return schedule of the simulated failure, in its order of steps")
        pack.add_rows("regulatory/in_kind_returns.csv", row_header, schedule_rows(schedule),
                      "in-kind returns and claims on the estate per client, pool and asset")
    for extra in documents:
        pack.add_json(extra.name, extra.document, extra.about)
    index = _index(ledger, generated_at_ns, pack.files)
    readable = _readable_index(index).encode()
    pack.add_bytes("INDEX.txt", readable, "this index, for people")
    index["files"] = pack.files
    text = json.dumps(index, indent=1, sort_keys=True) + "\n"
    pack.archive.add_bytes("index.json", text.encode())
    return index


def _index(
    ledger: LedgerService, generated_at_ns: int, files: list[dict[str, Any]]
) -> dict[str, Any]:
    seq, head_hash, signature = ledger.signed_head()
    journal_key = ledger.journal_key
    return {
        "format": pack_format,
        "generated_at_ns": str(generated_at_ns),
        # The signed head: anyone holding the pack can later check that the journal still
        # holds it (``ringfence audit verify --expect-head SEQ:HASH``).
        "journal": {
            "seq": seq,
            "head_hash": head_hash.hex(),
            "signature": signature.hex(),
            "journal_key": journal_key.hex() if journal_key is not None else "",
        },
        "clients": len(ledger.ledger.clients),
        "files": list(files),
        "note": "each file's SHA-256 is of its bytes as stored in this zip; index.json lists "
        "every file but itself",
    }


def _readable_index(index: Mapping[str, Any]) -> str:
    lines = [
        "RESOLUTION PACK — master index",
        f"format {index['format']}; generated at {index['generated_at_ns']} ns (Unix epoch)",
        f"journal entry {index['journal']['seq']}, head hash {index['journal']['head_hash']}",
        f"signed by journal key {index['journal']['journal_key']}: "
        f"{index['journal']['signature']}",
        f"clients: {index['clients']}",
        "",
        "file | sha256 | bytes | rows | contents",
    ]
    for entry in index["files"]:
        rows = entry.get("rows", "")
        lines.append(
            f"{entry['file']} | {entry['sha256']} | {entry['bytes']} | {rows} | {entry['about']}"
        )
    lines += ["", "index.json holds the same list, and this file's own hash.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------- the files


def _assets(ledger: LedgerService) -> dict[str, Asset]:
    return dict(ledger.ledger.assets)


def _add_firm(pack: _Pack, ledger: LedgerService) -> None:
    engine = ledger.ledger
    document = {
        "assets": [
            {"code": a.code, "scale": a.scale, "number": a.number, "chain": a.chain,
             "contract": a.contract}
            for a in sorted(engine.assets.values(), key=lambda a: a.number)
        ],
        "clients": len(engine.clients),
        "pools": len(engine.pools),
        "accounts": len(engine.accounts),
        "journal": {"seq": ledger.seq, "head_hash": ledger.hash.hex()},
        "last_transfer_ns": str(engine.timestamp_last),
    }
    pack.add_json("firm.json", document, "assets, counts and the journal's latest hash")


def _add_pools(pack: _Pack, ledger: LedgerService) -> None:
    assets = ledger.ledger.assets_by_number
    positions: dict[str, list[dict[str, str]]] = defaultdict(list)
    for position in ledger.positions():
        asset = assets[position.asset]
        positions[position.pool.name].append(
            {
                "asset": asset.code,
                "holdings": format_amount(position.holdings, asset),
                "liabilities": format_amount(position.liabilities, asset),
                "residual_interest": format_signed_amount(position.residual_interest, asset),
                "breaks_outstanding": format_amount(position.breaks_outstanding, asset),
                "segregated": str(position.enforced).lower(),
            }
        )
    document = [
        {
            "pool": pool.name, "kind": pool.kind.value, "terms": pool.terms.value,
            "purpose": pool.purpose.value, "client": pool.client,
            "positions": positions.get(pool.name, []),
        }
        for pool in sorted(ledger.ledger.pools.values(), key=lambda p: p.name)
    ]
    pack.add_json("pools.json", document, "pools, their terms and book positions per asset")


def _add_wallets(
    pack: _Pack, ledger: LedgerService, custody: CustodyService, at_ns: int
) -> None:
    registry = custody.registry
    assets = _assets(ledger)
    holdings: dict[str, dict[str, str]] = defaultdict(dict)
    book_pools: dict[str, str] = {}
    for account in ledger.ledger.accounts.values():
        d = account.definition
        if d.account_class is AccountClass.custody and account.balance:
            holdings[d.owner][d.asset] = format_amount(account.balance, assets[d.asset])
            book_pools[d.owner] = d.pool or "house"
    addresses: dict[str, int] = defaultdict(int)
    for assignment in registry.addresses.values():
        addresses[assignment.wallet] += 1
    encumbrances: dict[str, list[dict[str, str]]] = defaultdict(list)
    for e in registry.encumbrances.values():
        released = registry.released_at.get(e.id, 0)
        encumbrances[e.wallet].append({
            "id": str(e.id), "asset": e.asset, "amount": format_amount(e.amount, assets[e.asset]),
            "kind": e.kind.value, "beneficiary": e.beneficiary, "start_ns": str(e.start_ns),
            "until_ns": str(e.until_ns), "released_at_ns": str(released),
            "active": str(e.active(at_ns, released)).lower(),
        })
    wallets = [
        {
            "name": s.wallet.name, "number": s.number, "chain": s.wallet.chain.value,
            "scheme": s.wallet.scheme.value, "network": s.wallet.network,
            "keys": list(s.wallet.keys), "signing": _signing[s.wallet.scheme],
            "pool": s.pool or "house", "tier": s.tier,
            "designations": [{"timestamp": str(t), "pool": p or "house", "tier": tier}
                             for t, p, tier in s.history],
            "addresses": addresses[s.wallet.name],
            "encumbrances": encumbrances[s.wallet.name],
            "book_holdings": holdings.pop(s.wallet.name, {}),
        }
        for s in sorted(registry.wallets.values(), key=lambda s: s.number)
    ]
    # Custody accounts whose wallet is not in the registry (defined before it existed).
    unregistered = [{"name": n, "pool": book_pools[n], "book_holdings": h}
                    for n, h in sorted(holdings.items())]
    document = {"wallets": wallets, "custody_accounts_without_registry_entry": unregistered,
                "key_custodians": "not recorded in the registry: see the firm's key policy"}
    pack.add_json("wallets.json", document,
                  "wallets: designations, tiers, keys and signing arrangements, holdings")
    pack.add_rows(
        "addresses.csv", ["address", "wallet", "index", "change", "client", "pool"],
        ([a.address, a.wallet, a.index, int(a.change), a.client, registry.pool_of(a.wallet)]
         for a in sorted(registry.addresses.values(), key=lambda a: (a.wallet, a.index))),
        "addresses of each wallet, and the client each was assigned to",
    )
    pack.add_rows(
        "client_addresses.csv", ["address", "client"],
        ([c.address, c.client] for c in registry.client_addresses.values()),
        "clients' own addresses outside the firm",
    )


def _add_clients(pack: _Pack, ledger: LedgerService) -> None:
    engine = ledger.ledger
    assets = _assets(ledger)
    pack.add_rows("clients.csv", ["client", "number"],
                  ([c.name, c.number] for c in engine.clients.values()), "the clients")
    pack.add_rows(
        "accounts.csv", ["account", "asset", "class", "owner", "kind", "pool"],
        ([a.id, a.definition.asset, a.definition.account_class.value, a.definition.owner,
          a.definition.kind, a.definition.pool] for a in engine.accounts.values()),
        "every account: one asset, one class, one owner, one pool or the house",
    )
    pack.add_rows(
        "positions.csv",
        ["client", "pool", "asset", "kind", "account", "terms", "balance", "debits_pending",
         "credits_pending"],
        ([a.definition.owner, a.definition.pool, a.definition.asset, a.definition.kind, a.id,
          engine.pools[a.definition.pool].terms.value,
          format_amount(a.balance, assets[a.definition.asset]),
          format_amount(a.debits_pending, assets[a.definition.asset]),
          format_amount(a.credits_pending, assets[a.definition.asset])]
         for a in engine.accounts.values()
         if a.definition.account_class is AccountClass.client),
        "each client's posted position per pool, asset and account (pending shown apart)",
    )


def _add_transfers(pack: _Pack, ledger: LedgerService) -> None:
    assets = ledger.ledger.assets_by_number
    codes = {int(code): code.name for code in TransferCode}

    def rows() -> Iterator[list[object]]:
        for r in ledger.store.projected_transfers():
            yield [r.id, r.timestamp, assets[r.asset].code, codes.get(r.code, str(r.code)),
                   r.debit_account, r.credit_account, r.amount, _flags_text(r.flags),
                   r.pending_id, r.reference]

    pack.add_rows(
        "transfers.csv",
        ["id", "timestamp_ns", "asset", "code", "debit_account", "credit_account",
         "amount_units", "flags", "pending_id", "reference"],
        rows(),
        "every committed transfer (amounts in minor units): positions rebuild from these",
    )


def _flags_text(flags: int) -> str:
    names = [f.name for f in TransferFlags if f and flags & f and f.name]
    return "|".join(name for name in names if name)


def _add_breaks(pack: _Pack, ledger: LedgerService) -> None:
    assets = ledger.ledger.assets_by_number
    breaks = sorted(ledger.breaks(), key=lambda b: (b.state is not BreakState.open, b.opened_at))
    document = [
        {"id": str(b.id), "pool": b.pool, "asset": assets[b.asset].code,
         "state": b.state.value, "amount": format_amount(b.amount, assets[b.asset]),
         "outstanding": format_amount(b.outstanding, assets[b.asset]),
         "opened_at_ns": str(b.opened_at)}
        for b in breaks
    ]
    open_count = sum(1 for b in breaks if b.state is BreakState.open)
    pack.add_json("breaks.json", {"open": open_count, "breaks": document},
                  f"segregation breaks ({open_count} open), open ones first")


def _add_audit(pack: _Pack, ledger: LedgerService) -> None:
    held = ledger.signer.public_key()  # the firm's own key, not what the journal declares
    report = verify_store(ledger.store, trusted_keys=[] if held is None else [held])
    pack.add_json("audit.json", report.to_json(),
                  "audit verify: the journal replayed and checked ("
                  + ("ok" if report.ok else f"{len(report.problems)} problems") + ")")


def _add_reconciliation(pack: _Pack, custody: CustodyService) -> None:
    """The latest journaled runs, and a segregation statement with the internal
    reconciliation as of now on the book basis (no chain observations are taken here: the
    external reconciliation is in the runs, which compared the book with the chain)."""
    from ringfence.core.recon.run import ReconSettings
    from ringfence.service import recon_documents as documents
    from ringfence.service.recon import ReconService

    recon = ReconService(custody)
    assets = dict(custody.ledger.ledger.assets)
    runs = recon.history.runs[-recon_runs_in_pack:]
    pack.add_json(
        "reconciliation/runs.json",
        [documents.run_entry(summary, coverage, assets) for summary, coverage in runs],
        f"the latest {len(runs)} journaled reconciliation runs (internal and external)",
    )
    current = recon.segregation_statement(None, None, ReconSettings())
    pack.add_json(
        "reconciliation/statement.json",
        documents.reconciliation_document(current, recon.history, assets),
        "segregation statement and internal reconciliation as of the pack (book basis)",
    )
    pack.add_json(
        "reconciliation/breaks.json",
        documents.breaks_document(recon.history, assets, current.as_of_ns, include_cured=True),
        "reconciliation breaks with their lifecycle (open, explained, cured)",
    )
