"""``ringfence por ...``: proof-of-reserves rounds (liabilities trees and attested reserves),
the challenges wallets sign, client proofs, verification, audit.

Each command parses its options, calls one function of ``service/por.py`` and prints the
document it returns. The rounds are kept in a directory (``--out``, default ``por/`` beside a
SQLite file, else ``./por``; layout in ``adapters/files/rounds.py``), chosen by
``bootstrap.round_store``. Files named on the command line (holdings, control signatures, a
proof, a round record to verify) are handed to the service as bytes, which parses them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ringfence import bootstrap
from ringfence.core import errors
from ringfence.core.errors import StorageError
from ringfence.entrypoints.cli.output import (
    ExecutorOption,
    JsonOption,
    console,
    new_table,
    opened,
    reported,
    say,
    target,
    write_json,
)
from ringfence.service import por
from ringfence.service.ports import RoundStore

name = "por"
app = typer.Typer(
    help="Proof of reserves and liabilities: rounds, challenges, proofs, verification, audit.",
    no_args_is_help=True,
)

OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="The rounds' directory (default: por/ beside the database).",
                 file_okay=False),
]
HoldingsOption = Annotated[
    Path | None,
    typer.Option("--holdings", exists=True, dir_okay=False,
                 help="Observed holdings at the snapshot (JSON lines, as for reconcile)."),
]
ControlOption = Annotated[
    Path | None,
    typer.Option("--control", exists=True, dir_okay=False,
                 help="Proof-of-control signatures for the round (see `por challenges`)."),
]
SnapshotOption = Annotated[
    int | None, typer.Option("--snapshot", min=0, help="Journal entry (default: the head).")
]


def _rounds(context: typer.Context, out: Path | None) -> RoundStore:
    return bootstrap.round_store(target(context).url, None if out is None else str(out))


def _read(path: Path, what: str) -> bytes:
    """The bytes of a file the caller named (the service parses them)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise StorageError(f"no {what} at {path}") from None


@app.command("challenges")
def challenges(
    context: typer.Context,
    block: Annotated[
        list[str], typer.Option("--block", help="CHAIN=HASH: a recent block of each chain.")
    ],
    snapshot: SnapshotOption = None,
    out: OutOption = None,
    json_output: JsonOption = False,
) -> None:
    """The messages each client-designated address must sign for the next round. The round
    (its snapshot and the blocks named) is kept in ``pending.json`` for ``por build``."""
    with reported(json_output), opened(context) as ledger:
        document = por.announce_round(ledger, _rounds(context, out), blocks=block,
                                      snapshot=snapshot)
    if json_output:
        write_json(document)
        return
    say(f"round {document['round']} ({document['round_id']}) at snapshot "
        f"{document['snapshot']}: {len(document['challenges'])} challenges")


@app.command("sign")
def sign(
    context: typer.Context,
    control_out: Annotated[
        Path, typer.Option("--control-out", dir_okay=False,
                           help="Where to write the control file for `por build --control`.")
    ],
    spends_settings: Annotated[
        str | None, typer.Option("--spends", help="The signing service's settings "
                                 "(default: $RINGFENCE_SPENDS; docs/spends.md).")
    ] = None,
    out: OutOption = None,
    json_output: JsonOption = False,
) -> None:
    """Sign the pending round's challenges with the keys that sign withdrawals (EIP-191 for
    Ethereum, BIP-322 simple for P2WPKH) and write the control file."""
    from ringfence.service.por_control import sign_challenges

    with reported(json_output), opened(context) as ledger:
        signer = bootstrap.spend_service(ledger, spends_settings)
        document = sign_challenges(ledger, _rounds(context, out), signer)
        control_out.write_text(json.dumps({"proofs": document["proofs"]}, indent=1) + "\n")
    if json_output:
        write_json({"ok": True, **document})
        return
    say(f"{len(document['proofs'])} proofs written to {control_out}; "
        f"{len(document['unsigned'])} challenges unsigned")
    for item in document["unsigned"]:
        say(f"  {item['wallet']} {item['address']}: {item['reason']}")


@app.command("build")
def build(
    context: typer.Context,
    *,
    out: OutOption = None,
    executor: ExecutorOption = bootstrap.executor_default,
    snapshot: SnapshotOption = None,
    holdings: HoldingsOption = None,
    control: ControlOption = None,
    json_output: JsonOption = False,
) -> None:
    """Build, sign and store a round over the client liabilities at a snapshot; with
    ``--holdings`` (and ``--control``), attest the reserves that back them."""
    with reported(json_output), bootstrap.executor(executor) as runs_on, \
            opened(context) as ledger:
        document = por.build_and_keep_round(
            ledger, _rounds(context, out), snapshot=snapshot, executor=runs_on,
            holdings=None if holdings is None else _read(holdings, "holdings"),
            control=None if control is None else _read(control, "control file"))
    if json_output:
        write_json(document)
        return
    table = new_table("asset", "height", "pieces", "root_sum")
    for row in document["assets"]:
        table.add_row(str(row["asset"]), str(row["height"]), str(row["pieces"]),
                      str(row["root_sum"]))
    console().print(table)
    say(f"round {document['round']} ({document['round_hash']}) at snapshot "
        f"{document['snapshot']}: {document['round_file']}")


@app.command("proof")
def proof(
    context: typer.Context,
    client: Annotated[str, typer.Argument(help="The client whose proofs to print.")],
    round_number: Annotated[
        int | None, typer.Option("--round", help="The round's number (default: the latest).")
    ] = None,
    out: OutOption = None,
    json_output: JsonOption = False,
) -> None:
    """The client's key and inclusion proofs in every asset they are owed, for one round."""
    with reported(json_output), opened(context) as ledger:
        document = por.client_proofs(ledger, _rounds(context, out), client, round_number)
    if json_output:
        write_json(document)
        return
    for found in document["proofs"]:
        say(f"{found['asset']}: {len(found['pieces'])} pieces")
    say(f"client key {document['client_key']}; add --json for the proof document")


@app.command("verify")
def verify(
    proof_file: Annotated[Path, typer.Argument(
        metavar="PROOF", dir_okay=False, help="`por proof --json` output, or one proof.")],
    *,
    round_file: Annotated[Path, typer.Option(
        "--round", dir_okay=False, help="The round record (round.json), from a second channel.")],
    key: Annotated[str, typer.Option(
        "--key", help="The client key (hex), if the proof file does not carry it.")] = "",
    balance: Annotated[list[str] | None, typer.Option(
        "--balance", help="ASSET=UNITS: your statement balance in proof units.")] = None,
    public_key: Annotated[str, typer.Option(
        "--public-key", help="The firm's published signing key (hex): refuse any other.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Check inclusion proofs against a round record; exit 4 with the reason if any fails.
    A round verifies against the key it carries; ``--public-key`` pins the firm's own."""
    with reported(json_output):
        document = por.verify_proofs(
            _read(proof_file, "proof"), _read(round_file, "round"), key_hex=key,
            balances=balance, public_key=public_key)
    if json_output:
        write_json(document)
    else:
        for result in document["results"]:
            verdict = "OK" if result["ok"] else f"REJECTED ({result['reason']})"
            say(f"{result['asset']}: {verdict} {result.get('detail', '')}".rstrip())
    if not document["ok"]:
        raise typer.Exit(errors.exit_status_integrity)


@app.command("audit")
def audit(
    context: typer.Context,
    *,
    round_file: Annotated[Path, typer.Option(
        "--round", dir_okay=False, help="The round record, in its round's directory.")],
    seed: Annotated[str, typer.Option(
        "--seed", help="The public seed that picks the sampled proofs (e.g. a block hash).")],
    sample_size: Annotated[int, typer.Option(
        "--sample", min=0, max=por.sample_size_max, help="Proofs to verify.")] = 100,
    out: OutOption = None,
    executor: ExecutorOption = bootstrap.executor_default,
    json_output: JsonOption = False,
) -> None:
    """Rebuild the trees from the journal, check roots and totals, verify sampled proofs.

    The journal is replayed up to the round's snapshot; the sample is drawn from SEED (publish
    one the firm cannot know in advance). Exit 4 on any problem."""
    with reported(json_output), bootstrap.executor(executor) as runs_on, \
            opened(context) as ledger:
        document = por.audit_kept_round(
            ledger, _rounds(context, out), str(round_file), seed=seed, sample_size=sample_size,
            executor=runs_on)
    if json_output:
        write_json(document)
    else:
        _say_problems(document)
    if not document["ok"]:
        raise typer.Exit(errors.exit_status_integrity)


def _say_problems(document: dict[str, Any]) -> None:
    for problem in document["problems"]:
        say(f"{problem['problem']} {problem['asset']}: {problem['detail']}")
    say(f"{len(document['sampled'])} proofs sampled; {len(document['problems'])} problems")
