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
from ringfence.core.errors import InputError, Result
from ringfence.entrypoints.cli.output import (
    ExecutorOption,
    FailOnOption,
    JsonOption,
    alert,
    console,
    new_table,
    opened,
    reported,
    say,
    target,
    write_json,
)
from ringfence.service import por, por_verify
from ringfence.service.ports import RoundStore

name = "por"
app = typer.Typer(
    help="Proof of reserves and liabilities: rounds, challenges, signatures, proofs, "
    "verification, audit.",
    no_args_is_help=True,
)

OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", help="The rounds' directory (default: por/ beside the database).", file_okay=False
    ),
]
HoldingsOption = Annotated[
    Path | None,
    typer.Option(
        "--holdings",
        exists=True,
        dir_okay=False,
        help="Observed holdings at the snapshot (JSON lines, as for reconcile).",
    ),
]
ControlOption = Annotated[
    Path | None,
    typer.Option(
        "--control",
        exists=True,
        dir_okay=False,
        help="Proof-of-control signatures for the round (see `por challenges`).",
    ),
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
        raise InputError(Result.file_not_found, f"no {what} at {path}") from None


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
        document = por.announce_round(
            ledger, _rounds(context, out), blocks=block, snapshot=snapshot
        )
    if json_output:
        write_json(document)
        return
    say(
        f"round {document['round']} ({document['round_id']}) at snapshot "
        f"{document['snapshot']}: {len(document['challenges'])} challenges"
    )


@app.command("sign")
def sign(
    context: typer.Context,
    *,
    control_out: Annotated[
        Path,
        typer.Option(
            "--control-out",
            dir_okay=False,
            help="Where to write the control file for `por build --control`.",
        ),
    ],
    keys: Annotated[
        list[Path] | None,
        typer.Option(
            "--key",
            metavar="FILE",
            exists=True,
            dir_okay=False,
            help="A wallet key file (repeatable): an extended private key (xprv, zprv, tprv, vprv) "
            "or an Ethereum key (0x and 64 hex digits). Without --key, the keys that sign "
            "withdrawals sign (--spends).",
        ),
    ] = None,
    spends_settings: Annotated[
        str | None,
        typer.Option(
            "--spends",
            help="The signing service's settings, when no --key is given "
            "(default: $RINGFENCE_SPENDS; docs/spends.md).",
        ),
    ] = None,
    out: OutOption = None,
    json_output: JsonOption = False,
) -> None:
    """Sign the pending round's challenges (EIP-191 for Ethereum, BIP-322 simple for P2WPKH)
    with wallet keys held in files, or with the keys that sign withdrawals, and write the
    control file."""
    from ringfence.service.por_control import sign_challenges
    from ringfence.service.por_key_files import sign_with_key_files

    with reported(json_output), opened(context) as ledger:
        rounds = _rounds(context, out)
        if keys:
            signer = bootstrap.control_signer([str(path) for path in keys])
            document = sign_with_key_files(ledger, rounds, signer)
        else:
            spends = bootstrap.spend_service(ledger, spends_settings)
            document = sign_challenges(ledger, rounds, spends)
        control_out.write_text(json.dumps({"proofs": document["proofs"]}, indent=1) + "\n")
    if json_output:
        write_json({"ok": True, **document})
        return
    say(
        f"{len(document['proofs'])} proofs written to {control_out}; "
        f"{len(document['unsigned'])} challenges unsigned"
    )
    for item in document["unsigned"]:
        say(f"  {item['wallet']} {item['address']}: {item['reason']}")


SpillOption = Annotated[
    bool,
    typer.Option("--spill", help="Write every client's figures to the round's directory from "
                 "the tasks (bounded memory: no process holds every client); the same round."),
]


@app.command("build")
def build(
    context: typer.Context,
    *,
    out: OutOption = None,
    executor: ExecutorOption = bootstrap.executor_default,
    snapshot: SnapshotOption = None,
    holdings: HoldingsOption = None,
    control: ControlOption = None,
    fail_on: FailOnOption = None,
    private: Annotated[bool, typer.Option(
        "--private", help="private mode: Pedersen-committed trees, sibling sums hidden")] = False,
    spill: SpillOption = False,
    json_output: JsonOption = False,
) -> None:
    """Build, sign and store a round over the client liabilities at a snapshot; with
    ``--holdings`` (and ``--control``), attest the reserves that back them. With
    ``--private``, the trees hold commitments and each proof a range proof of its siblings.
    With --spill the tasks write every client's figures to the round's directory, so that no
    process holds every client (the same round; for tens of millions of clients on a cluster).

    With --fail-on not_covered it exits 5 after the report when an asset's attested reserves
    do not cover its liabilities (or none were attested)."""
    from ringfence.service import alerting

    with reported(json_output), bootstrap.executor(executor) as runs_on, opened(context) as ledger:
        conditions = alerting.parse_fail_on(fail_on, alerting.round_conditions)
        document = por.build_and_keep_round(
            ledger,
            _rounds(context, out),
            snapshot=snapshot,
            executor=runs_on,
            spilled=bootstrap.spilled_round_builder() if spill else None,
            holdings=None if holdings is None else _read(holdings, "holdings"),
            control=None if control is None else _read(control, "control file"),
            private=private,
        )
        found = alerting.round_alerts(document, conditions)
        if conditions:
            document["alerts"] = found
    if json_output:
        write_json(document)
    else:
        table = new_table("asset", "height", "pieces", "root_sum", "covered")
        for row in document["assets"]:
            table.add_row(
                str(row["asset"]),
                str(row["height"]),
                str(row.get("pieces", row.get("leaves"))),
                str(row["root_sum"]),
                _covered(row),
            )
        console().print(table)
        say(
            f"round {document['round']} ({document['round_hash']}) at snapshot "
            f"{document['snapshot']}: {document['round_file']}"
        )
    alert(found, json_output)


def _covered(row: dict[str, Any]) -> str:
    if row["covered"] is None:
        return "no reserves attested"
    bp = row["coverage_net_bp"]
    share = "" if bp is None else f" ({int(bp) // 100}.{int(bp) % 100:02d}%)"
    return ("yes" if row["covered"] else "NO") + share


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
    """The client's nonce for the round and their inclusion proofs in every asset they are owed."""
    with reported(json_output), opened(context) as ledger:
        document = por.client_proofs(ledger, _rounds(context, out), client, round_number)
    if json_output:
        write_json(document)
        return
    for found in document["proofs"]:
        say(f"{found['asset']}: {len(found['pieces'])} pieces")
    secret = document.get("nonce") or document.get("client_key")
    say(f"nonce {secret}; add --json for the proof document")


@app.command("verify")
def verify(
    proof_file: Annotated[
        Path,
        typer.Argument(
            metavar="PROOF", dir_okay=False, help="`por proof --json` output, or one proof."
        ),
    ],
    *,
    round_file: Annotated[
        Path,
        typer.Option(
            "--round", dir_okay=False, help="The round record (round.json), from a second channel."
        ),
    ],
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id", help="Your client id, as the firm knows you: every leaf is bound to it."
        ),
    ] = None,
    nonce: Annotated[
        str,
        typer.Option(
            "--nonce", help="The round's nonce for you (hex), if the proof file does not carry it."
        ),
    ] = "",
    balance: Annotated[
        list[str] | None,
        typer.Option(
            "--balance", help="ASSET=AMOUNT: your statement balance in the major unit (BTC=0.8)."
        ),
    ] = None,
    decimals: Annotated[
        list[str] | None,
        typer.Option(
            "--decimals", help="ASSET=N: the asset's decimals, if the round does not say."
        ),
    ] = None,
    public_key: Annotated[
        str,
        typer.Option(
            "--public-key", help="The firm's published signing key (hex): refuse any other."
        ),
    ] = "",
    json_output: JsonOption = False,
) -> None:
    """Check inclusion proofs against a signed round, as the stdlib verifier does: the
    snapshot, each asset's reserves coverage, each proof. Exit 0 accepted, 1 the proofs check
    but reserves do not cover, 2 bad input, 4 refused. ``--public-key`` pins the firm's key."""
    with reported(json_output):
        document = por_verify.verify_proofs(
            _read(proof_file, "proof"),
            _read(round_file, "round"),
            client_id=client_id,
            nonce_hex=nonce,
            balances=balance,
            decimals=decimals,
            public_key=public_key,
        )
    if json_output:
        write_json(document)
    else:
        typer.echo(por_verify.render_verification(document), nl=False)
    if document["exit_status"]:
        raise typer.Exit(document["exit_status"])


@app.command("page")
def page(
    context: typer.Context,
    *,
    page_out: Annotated[
        Path,
        typer.Option(
            "--page-out", dir_okay=False, help="Where to write the verifier page to publish."
        ),
    ],
    out: OutOption = None,
    json_output: JsonOption = False,
) -> None:
    """Write the browser verifier (one static HTML file) with the firm's round-signing key
    pinned in it: publish it beside the key, so a client's page refuses any other signer."""
    from ringfence.entrypoints.pages.serving import pinned_verify_page

    with reported(json_output):
        public_key = por_verify.signing_public_key(_rounds(context, out))
        page_out.write_text(pinned_verify_page(public_key), encoding="utf-8")
    if json_output:
        write_json({"ok": True, "page": str(page_out), "public_key": public_key})
        return
    say(f"{page_out}: the verifier page, pinned to {public_key}")


@app.command("audit")
def audit(
    context: typer.Context,
    *,
    round_file: Annotated[
        Path,
        typer.Option("--round", dir_okay=False, help="The round record, in its round's directory."),
    ],
    seed: Annotated[
        str,
        typer.Option(
            "--seed", help="The public seed that picks the sampled proofs (e.g. a block hash)."
        ),
    ],
    sample_size: Annotated[
        int, typer.Option("--sample", min=0, max=por.sample_size_max, help="Proofs to verify.")
    ] = 100,
    out: OutOption = None,
    executor: ExecutorOption = bootstrap.executor_default,
    json_output: JsonOption = False,
) -> None:
    """Rebuild the trees from the journal, check roots and totals, verify sampled proofs.

    The journal is replayed up to the round's snapshot; the sample is drawn from SEED (publish
    one the firm cannot know in advance). Exit 4 on any problem."""
    with reported(json_output), bootstrap.executor(executor) as runs_on, opened(context) as ledger:
        document = por.audit_kept_round(
            ledger,
            _rounds(context, out),
            str(round_file),
            seed=seed,
            sample_size=sample_size,
            executor=runs_on,
        )
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
