"""What a new user meets first, in process: errors that name the fix, usage errors as JSON
under ``--json``, ``--fail-on`` exiting 5 on an undersegregated pool or uncovered reserves,
and ``por sign --key`` signing what its key files hold and listing the rest. The books are the
README walkthrough's, built from examples/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from embit import bip32
from embit.networks import NETWORKS
from typer.testing import CliRunner

from ringfence.core import errors
from ringfence.entrypoints.cli.app import app

examples = Path(__file__).resolve().parents[2] / "examples"
block = "0000000000000000000320283a032748cef8227873ff4872689bf23f1cda83a5"
runner = CliRunner()


def run(db: Path | None, *arguments: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    prefix = [] if db is None else ["--db", f"sqlite:///{db}"]
    result = runner.invoke(app, [*prefix, *arguments], env=env)
    return result.exit_code, result.output


def document(db: Path, *arguments: str, status: int = 0) -> Any:
    code, output = run(db, *arguments, "--json")
    assert code == status, output
    return json.loads(output)


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The walkthrough's books up to the deposits: alice 0.5 BTC, bob 0.25 BTC in ``omni``."""
    db = tmp_path_factory.mktemp("first-hour") / "books.db"
    steps = [
        ["init"],
        ["assets", "create", "--code", "BTC", "--scale", "8", "--number", "1", "--chain",
         "bitcoin"],
        ["clients", "create", "alice", "bob"],
        ["pools", "create", "omni", "--kind", "omnibus", "--terms", "custody"],
        ["accounts", "import", str(examples / "accounts.jsonl")],
        ["wallets", "create", "omni-hot", "--chain", "bitcoin", "--scheme", "bip84", "--pool",
         "omni", "--key", (examples / "bip84.zpub").read_text().strip()],
        ["wallets", "assign", "omni-hot", "--client", "alice", "--start", "0"],
        ["wallets", "assign", "omni-hot", "--client", "bob", "--start", "1"],
        ["wallets", "scan", "--utxo-snapshot", str(examples / "utxo-840000.csv")],
    ]  # fmt: skip
    for step in steps:
        assert document(db, *step)["ok"] is True
    return db


def holdings(folder: Path, alice_sats: int) -> Path:
    """Observed holdings: alice's address at ``alice_sats``, bob's at what the book says."""
    lines = []
    for address, amount in (("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", alice_sats),
                            ("bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g", 25_000_000)):
        lines.append(json.dumps({"chain": "bitcoin", "address": address, "asset": "BTC",
                                 "amount": str(amount), "height": 840000,
                                 "time_ns": 1713571767000000000, "source": "test"}))  # fmt: skip
    path = folder / f"holdings-{alice_sats}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_missing_database_names_the_path_the_options_and_init(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    code, output = run(missing, "balances")
    assert code == errors.exit_status_storage
    assert str(missing) in output
    fixes = ("--db", "RINGFENCE_DB", f"ringfence --db sqlite:///{missing} init", "given by --db")
    for fix in fixes:
        assert fix in output
    environment = {"RINGFENCE_DB": f"sqlite:///{missing}"}
    code, output = run(None, "balances", "--json", env=environment)
    found = json.loads(output)
    assert (code, found["error"]) == (errors.exit_status_storage, "storage_error")
    assert "from RINGFENCE_DB" in found["detail"]


def test_usage_errors_and_missing_files_are_json_under_json(books: Path, tmp_path: Path) -> None:
    code, output = run(books, "balances", "--json", "--colour")
    assert code == errors.exit_status_input
    assert json.loads(output)["error"] == "usage_invalid"
    code, output = run(books, "accounts", "import", str(tmp_path / "absent.jsonl"), "--json")
    found = json.loads(output)
    assert (code, found["ok"], found["error"]) == (errors.exit_status_input, False,
                                                   "file_not_found")  # fmt: skip
    assert "absent.jsonl" in found["detail"]
    code, output = run(books, "balances", "--colour")  # without --json: Typer's text
    assert code == errors.exit_status_input
    assert "No such option" in output


def test_reconcile_fails_on_an_undersegregated_pool_only_when_asked(
    books: Path, tmp_path: Path
) -> None:
    short = str(holdings(tmp_path, 40_000_000))  # alice's address holds 0.1 BTC less
    report = document(books, "reconcile", "--observations", short)
    assert {line["alert"] for line in report["segregated"]} == {"undersegregated"}
    alerted = document(books, "reconcile", "--observations", short, "--fail-on",
                       "undersegregated", status=errors.exit_status_alert)  # fmt: skip
    assert alerted["alerts"] == ["undersegregated"]
    whole = str(holdings(tmp_path, 50_000_000))
    calm = document(books, "reconcile", "--observations", whole, "--fail-on",
                    "undersegregated,below_target")  # fmt: skip
    assert calm["alerts"] == []
    refused = document(books, "reconcile", "--fail-on", "not_covered",
                       status=errors.exit_status_input)  # fmt: skip
    assert refused["error"] == "usage_invalid"


def test_por_sign_and_build_fail_on_reserves_that_do_not_cover(
    books: Path, tmp_path: Path
) -> None:
    rounds = str(tmp_path / "por")
    document(books, "por", "challenges", "--block", f"bitcoin={block}", "--out", rounds)
    control = tmp_path / "control.json"
    signed = document(books, "por", "sign", "--key", str(examples / "bip84.zprv"),
                      "--control-out", str(control), "--out", rounds)  # fmt: skip
    assert (len(signed["proofs"]), signed["unsigned"]) == (2, [])
    assert json.loads(control.read_text()) == {"proofs": signed["proofs"]}
    short = str(holdings(tmp_path, 40_000_000))
    built = document(books, "por", "build", "--out", rounds, "--holdings", short, "--control",
                     str(control), "--fail-on", "not_covered",
                     status=errors.exit_status_alert)  # fmt: skip
    assert built["alerts"] == ["not_covered"]
    assert [row["covered"] for row in built["assets"]] == [False]
    assert built["reserves_by_asset"][0]["unproven"] == "0"  # every address proven


def test_por_sign_lists_what_no_key_file_holds(books: Path, tmp_path: Path) -> None:
    rounds = str(tmp_path / "por")
    document(books, "por", "challenges", "--block", f"bitcoin={block}", "--out", rounds)
    stranger = tmp_path / "other.zprv"  # a key of another wallet: it holds neither address
    seed = bytes(range(32))
    stranger.write_text(bip32.HDKey.from_seed(seed, version=NETWORKS["main"]["zprv"]).to_base58())
    signed = document(books, "por", "sign", "--key", str(stranger), "--control-out",
                      str(tmp_path / "control.json"), "--out", rounds)  # fmt: skip
    assert signed["proofs"] == []
    assert [item["address"] for item in signed["unsigned"]] == [
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
    ]
    refused = document(books, "por", "sign", "--key", str(examples / "bip84.zpub"),
                       "--control-out", str(tmp_path / "c.json"), "--out", rounds,
                       status=errors.exit_status_input)  # fmt: skip
    assert refused["error"] == "signing_key_invalid"  # a public key signs nothing


def test_the_demo_without_its_extra_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    found = importlib.util.find_spec

    def without_bip_utils(name: str, *rest: Any) -> Any:
        return None if name == "bip_utils" else found(name, *rest)

    monkeypatch.setattr(importlib.util, "find_spec", without_bip_utils)
    code, output = run(tmp_path / "demo.db", "demo", "--json")
    assert code == errors.exit_status_input
    assert "ringfence[demo]" in json.loads(output)["detail"]
    assert not (tmp_path / "demo.db").exists()
