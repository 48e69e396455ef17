"""A proof-of-reserves build that fails at any step leaves nothing that stops the next one
(adapters/files/rounds.py saves a round whole, service/por.py clears what a killed process
left), over a ledger on SQLite and on PostgreSQL.

Each step of a build is made to fail in turn, after ``por challenges`` kept its pending
round: the gathering (an executor whose tasks fail), the build seed, the trees, the private
trees, the record and the rename into ``rounds/``. After each, no round folder is left without
its record, the staging area is empty, and the next build keeps the next round, chained to the
last one kept, with the pending round still there."""

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import build_custodian, journal_signer

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.executors import InProcessExecutor
from ringfence.adapters.files import rounds as round_files
from ringfence.core.access.roles import Actor
from ringfence.core.errors import InputError, Result
from ringfence.core.principals.records import PrincipalRole
from ringfence.service import access_reports, por
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import RoundStore


class FailedStepError(Exception):
    """The failure a test injects."""


class FailingExecutor(InProcessExecutor):
    """Its tasks never run: an executor that lost its workers."""

    def map(self, task: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        raise FailedStepError("the executor lost its workers")


def fail(*_: Any, **__: Any) -> None:
    raise FailedStepError("disk full")


def fail_on_record(original: Callable[..., int]) -> Callable[..., int]:
    def write_text(path: pathlib.Path, *arguments: Any, **options: Any) -> int:
        if path.name == "round.json":
            raise FailedStepError("disk full")
        return original(path, *arguments, **options)

    return write_text


# Each step: what it patches (module, name, replacement factory) and the build's options.
STEPS: dict[str, tuple[Any, str, Callable[[Any], Any], dict[str, Any]]] = {
    "build seed": (round_files, "write_key_file", lambda _: fail, {}),
    "trees": (round_files, "save_tree", lambda _: fail, {}),
    "private trees": (round_files, "save_private_tree", lambda _: fail, {"private": True}),
    "record": (pathlib.Path, "write_text", fail_on_record, {}),
    "rename": (os, "rename", lambda _: fail, {}),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def funded(ledger_url: str) -> Iterator[LedgerService]:
    ledger = LedgerService(bootstrap.open_store(ledger_url), ManualClock(), journal_signer())
    custodian = build_custodian(ledger)
    assert ledger.submit([custodian.deposit(1, "alice", 150_000_000),
                          custodian.deposit(2, "bob", 7)]) == [Result.ok] * 2
    yield ledger
    ledger.store.close()


def build(ledger: LedgerService, rounds: RoundStore, **options: Any) -> dict[str, Any]:
    options = {"snapshot": None, "holdings": None, "control": None,
               "executor": InProcessExecutor()} | options
    return por.build_and_keep_round(ledger, rounds, **options)


def chained(ledger: LedgerService, rounds: RoundStore, round_file: str) -> bool:
    report = por.audit_kept_round(ledger, rounds, round_file, seed="s", sample_size=10,
                                  executor=InProcessExecutor())
    return bool(report["ok"]) and not report["problems"]


def left_behind(folder: Path) -> list[str]:
    """Round folders without their record, and anything in the staging area."""
    unfinished = [entry.name for entry in (folder / "rounds").glob("*")
                  if not (entry / "round.json").is_file()]
    return unfinished + [entry.name for entry in (folder / "building").glob("*")]


def test_a_build_failing_at_any_step_leaves_nothing_that_stops_the_next(
    funded: LedgerService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "por"
    rounds = bootstrap.round_store("memory://", str(folder))
    por.announce_round(funded, rounds, blocks=[f"ethereum={'5a' * 32}"], snapshot=None)
    pending = rounds.pending()
    with pytest.raises(FailedStepError):
        build(funded, rounds, executor=FailingExecutor())
    assert left_behind(folder) == []
    kept = [build(funded, rounds)]
    for step, (owner, name, replacement, options) in STEPS.items():
        with monkeypatch.context() as patch:
            patch.setattr(owner, name, replacement(getattr(owner, name)))
            with pytest.raises(FailedStepError):
                build(funded, rounds, **options)
        assert left_behind(folder) == [], step
        assert rounds.numbers() == [entry["round"] for entry in kept], step
        kept.append(build(funded, rounds, **options))
        assert kept[-1]["round"] == len(kept), step
        assert kept[-1]["cleared"] == [], step
        assert chained(funded, rounds, kept[-1]["round_file"]), step
    assert rounds.pending() == pending  # a failed build never touches the announcement


def test_the_next_build_clears_and_names_what_a_killed_build_left(
    funded: LedgerService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "por"
    rounds = bootstrap.round_store("memory://", str(folder))
    first = build(funded, rounds)
    # A build killed mid-save: a round folder with its private parts and no record (as saves
    # were written in place), and a staging folder the rename never moved.
    stale = folder / "rounds" / "000002"
    (stale / "private").mkdir(parents=True)
    (stale / "reserves.json").write_text("{}")
    killed = folder / "building" / "000002-x1"
    (killed / "private").mkdir(parents=True)
    with caplog.at_level("WARNING", logger="ringfence.por"):
        second = build(funded, rounds)
    assert second["round"] == 2
    assert second["cleared"] == [str(stale), str(killed)]
    assert [record.getMessage() for record in caplog.records] == [
        f"cleared {stale}: a round build stopped before its round was kept",
        f"cleared {killed}: a round build stopped before its round was kept"]
    assert left_behind(folder) == []
    assert chained(funded, rounds, second["round_file"])
    assert build(funded, rounds)["cleared"] == []
    assert first["round"] == 1


def test_a_second_build_while_one_keeps_its_round_is_busy_and_touches_nothing(
    funded: LedgerService, ledger_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build stopped between writing its round in ``building/`` and renaming it into
    ``rounds/``; meanwhile another process (its own store on the same ledger) builds, and
    announces: both are ``por_build_busy``, the first's staging folder is left alone, and its
    round is kept whole."""
    folder = tmp_path / "por"
    build(funded, bootstrap.round_store("memory://", str(folder)))
    staged, go = threading.Event(), threading.Event()
    write_round = round_files._write_round

    def write_and_wait(*arguments: Any, **options: Any) -> None:
        write_round(*arguments, **options)
        if staged.is_set():  # another build's: not held
            return
        staged.set()
        assert go.wait(30)

    monkeypatch.setattr(round_files, "_write_round", write_and_wait)
    outcome: dict[str, Any] = {}
    first = threading.Thread(target=lambda: outcome.update(
        build(funded, bootstrap.round_store("memory://", str(folder)))))
    first.start()
    try:
        assert staged.wait(30)
        other = LedgerService(bootstrap.open_store(ledger_url), ManualClock(), journal_signer())
        try:
            rounds = bootstrap.round_store("memory://", str(folder))
            for attempt in (lambda: build(other, rounds), lambda: por.announce_round(
                    other, rounds, blocks=[f"ethereum={'5a' * 32}"], snapshot=None)):
                with pytest.raises(InputError) as busy:
                    attempt()
                assert busy.value.code is Result.por_build_busy
            assert len(list((folder / "building").iterdir())) == 1  # the first's, untouched
            assert rounds.numbers() == [1]
        finally:
            other.store.close()
    finally:
        go.set()
        first.join(30)
    assert outcome["round"] == 2 and outcome["cleared"] == []
    kept = folder / "rounds" / "000002"
    assert (kept / "round.json").is_file() and (kept / "private" / "build.seed").is_file()
    assert left_behind(folder) == []
    rounds = bootstrap.round_store("memory://", str(folder))
    assert chained(funded, rounds, outcome["round_file"])
    assert build(funded, rounds)["round"] == 3


def test_a_folder_without_its_record_is_no_round_to_announce_or_build_after(
    funded: LedgerService, tmp_path: Path
) -> None:
    """A round folder a killed build left without ``round.json`` is not a round kept: ``por
    challenges`` announces the round it would have been, and a REST build names that number
    (asking for the one after is refused, never building another round than the one named)."""
    folder = tmp_path / "por"
    rounds = bootstrap.round_store("memory://", str(folder))
    build(funded, rounds)
    stale = folder / "rounds" / "000002"
    (stale / "private").mkdir(parents=True)
    assert rounds.numbers() == [1]
    announced = por.announce_round(funded, rounds, blocks=[f"ethereum={'5a' * 32}"],
                                   snapshot=None)  # fmt: skip
    assert announced["round"] == 2
    operator = Actor("ops", PrincipalRole.operator)
    with pytest.raises(InputError) as refused:
        access_reports.build_round(funded, rounds, operator, {"round": "3"}, InProcessExecutor())
    assert refused.value.code is Result.round_not_found
    assert rounds.numbers() == [1]
    built = access_reports.build_round(funded, rounds, operator, {"round": "2"},
                                       InProcessExecutor())  # fmt: skip
    assert (built["built"], built["round"], rounds.numbers()) == (True, 2, [1, 2])
    assert (stale / "round.json").is_file()
    with pytest.raises(InputError) as moved:  # another build kept the round named meanwhile
        build(funded, rounds, expected_round=2)
    assert moved.value.code is Result.por_build_busy
    assert rounds.numbers() == [1, 2]


def test_clearing_removes_only_what_a_build_makes(tmp_path: Path) -> None:
    """An operator's folder beside the rounds, symlinks and plain files are neither removed
    nor followed: only all-digit round folders without their record and ``NNNNNN-*`` staging
    folders are cleared."""
    folder = tmp_path / "por"
    rounds = round_files.RoundFiles(folder)
    notes = folder / "rounds" / "2025-q4-audit" / "auditor-notes.pdf"
    notes.parent.mkdir(parents=True)
    notes.write_bytes(b"%PDF")
    elsewhere = tmp_path / "elsewhere" / "000003"
    (elsewhere / "private").mkdir(parents=True)
    (folder / "rounds" / "000003").symlink_to(elsewhere)
    (folder / "rounds" / "000004").write_text("a plain file")
    (folder / "rounds" / "0000\u00b2").mkdir()  # a digit to str.isdigit only
    stale = folder / "rounds" / "000002"
    (stale / "private").mkdir(parents=True)
    killed = folder / "building" / "000002-x1"
    (killed / "private").mkdir(parents=True)
    (folder / "building" / "notes.txt").write_text("kept")
    (folder / "building" / "keep-me").mkdir()
    (folder / "building" / "000005-link").symlink_to(elsewhere)
    assert rounds.numbers() == []
    assert rounds.clear_unfinished() == [str(stale), str(killed)]
    assert sorted(entry.name for entry in (folder / "rounds").iterdir()) == [
        "000003", "000004", "0000\u00b2", "2025-q4-audit"]
    assert sorted(entry.name for entry in (folder / "building").iterdir()) == [
        "000005-link", "keep-me", "notes.txt"]
    assert notes.read_bytes() == b"%PDF"
    assert (elsewhere / "private").is_dir()
    assert rounds.clear_unfinished() == []


def test_a_round_is_on_disk_before_its_rename_and_the_rename_after(
    funded: LedgerService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file and folder of the round is synced in ``building/``, then ``rounds/`` once
    the round is renamed into it: a power loss cannot leave a round with an empty record."""
    folder = tmp_path / "por"
    synced: list[tuple[str, bool]] = []  # each path synced, and whether the round was kept then
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        path = os.readlink(f"/proc/self/fd/{descriptor}")
        synced.append((path, (folder / "rounds" / "000001").exists()))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    build(funded, bootstrap.round_store("memory://", str(folder)))
    [staging] = {Path(path).parent for path, _ in synced if path.endswith("/round.json")}
    assert staging.parent == folder / "building"
    in_staging = [(os.path.relpath(path, staging), kept) for path, kept in synced
                  if path.startswith(str(staging))]  # fmt: skip
    assert {"round.json", "private/build.seed", "private/tree-1.npz", "private/tree-1.json",
            "private", "."} <= {path for path, _ in in_staging}  # fmt: skip
    assert not any(kept for _, kept in in_staging)
    assert in_staging[-1] == (".", False)  # the folder last, after what it holds
    assert synced[-1] == (str(folder / "rounds"), True)


@pytest.mark.parametrize("left", [b"", b"\0" * 512])
def test_an_empty_record_is_a_leftover_cleared_by_name_and_a_malformed_one_a_refusal(
    funded: LedgerService, tmp_path: Path, left: bytes
) -> None:
    """What a power loss may leave of a record saved without ``fsync`` (nothing, or zeros) is
    no round: the next build clears it by name and keeps that number. A record that holds
    something else is the operator's to look at: named when read, never removed."""
    folder = tmp_path / "por"
    rounds = bootstrap.round_store("memory://", str(folder))
    build(funded, rounds)
    stale = folder / "rounds" / "000002"
    (stale / "private").mkdir(parents=True)
    (stale / "round.json").write_bytes(left)
    assert rounds.numbers() == [1]
    second = build(funded, rounds)
    assert (second["round"], second["cleared"]) == (2, [str(stale)])
    assert chained(funded, rounds, second["round_file"])
    edited = folder / "rounds" / "000002" / "round.json"
    edited.write_text("{not json")
    with pytest.raises(InputError) as refused:
        build(funded, rounds)
    assert refused.value.code is Result.line_malformed and str(edited) in refused.value.detail
    assert edited.read_text() == "{not json" and rounds.numbers() == [1, 2]
