"""Throwaway PostgreSQL clusters for tests: a primary and its standby on loopback ports.

The server binaries are the installed ones (``pg_config --bindir``: ``initdb``, ``pg_ctl``,
``pg_basebackup``, ``postgres``). PostgreSQL refuses to run as root, so when the tests run as
root every server program runs as the ``postgres`` OS user (util-linux's ``setpriv``), and the
clusters live in a directory that user owns. Without the binaries (or, as root, without that
user) a test is skipped, except under ``CI=true``, where it fails: a CI run must not pass by
skipping the failover test.

A pair is built the way an operator builds one by hand::

    primary = Cluster(binaries, directory, "primary")
    primary.create("standby")           # initdb, started on a free loopback port
    standby = Cluster(binaries, directory, "standby")
    standby.clone(primary)              # pg_basebackup -R: streams from the primary
    wait_until_streaming(primary, standby.name, "sync")

With ``create("standby")`` the primary names the standby in ``synchronous_standby_names``
(``synchronous_commit = on``), so a commit returns to its client only once the standby has
flushed its WAL; ``create()`` replicates asynchronously. The standby is configured to need no
standby of its own once promoted: otherwise every commit after a failover would wait for a
standby that does not exist.

Each postmaster is a child of the test process, started with a parent-death signal, so a test
process that dies (a crashed xdist worker, a run killed on a timeout) takes its servers with it
and their children follow the postmaster. Every process of a cluster is found by its working
directory (the postmaster and each of its children run in the data directory), so
``tear_down`` ends exactly those, by id, even after the postmaster was killed and its children
were orphaned.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

SERVER_USER = "postgres"  # the OS user the servers run as when the tests run as root
PROGRAMS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
COMMAND_TIMEOUT_S = 60.0  # initdb and pg_basebackup on a busy 2-core machine take seconds
START_TIMEOUT_S = 30
START_ATTEMPTS = 3  # a free port can be taken by another process between probe and bind
STOP_TIMEOUT_S = 10
STREAMING_TIMEOUT_S = 15.0
LEFTOVER_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 40

# Small enough for several clusters on a shared test machine; durable settings left as in
# production (fsync, full_page_writes, synchronous_commit). A standby starting from a base
# backup first syncs its whole data directory: one syncfs() rather than an fsync() per file
# (seconds on a busy disk).
_SETTINGS = """
recovery_init_sync_method = syncfs
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 30
shared_buffers = '32MB'
wal_level = replica
max_wal_senders = 4
synchronous_commit = on
logging_collector = off
log_line_prefix = '%m [%p] '
"""


class ServerUnavailableError(Exception):
    """The PostgreSQL server binaries, or the OS user to run them as, are not on this machine."""


@dataclass(frozen=True, slots=True)
class ServerBinaries:
    """Where the server programs are, and how to run them as a user PostgreSQL accepts."""

    directory: Path
    setpriv: str  # util-linux's setpriv: runs a program as another user, or tied to us
    run_as: tuple[str, ...]  # setpriv's options: the server's user when we are root
    owner: tuple[int, int] | None  # (uid, gid) to give the clusters' directory, when root
    environment: dict[str, str]

    def command(self, program: str, *arguments: str, dies_with_us: bool = False) -> list[str]:
        """The command line running ``program``; ``dies_with_us``: it gets SIGKILL when the
        thread that started it ends (``--pdeathsig``), so no server outlives a test run."""
        options = ["--pdeathsig=KILL", *self.run_as] if dies_with_us else list(self.run_as)
        return [self.setpriv, *options, "--", str(self.directory / program), *arguments]

    def run(self, program: str, *arguments: str, cwd: Path) -> str:
        """Run a server program to completion; its output, or ``RuntimeError`` naming it."""
        try:
            completed = subprocess.run(
                self.command(program, *arguments),
                cwd=cwd,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(f"{program} took longer than {COMMAND_TIMEOUT_S} s") from error
        output = (completed.stdout + completed.stderr).strip()
        if completed.returncode != 0:
            raise RuntimeError(f"{program} exited with {completed.returncode}: {output[-2000:]}")
        return output


def server_binaries() -> ServerBinaries:
    """The installed server's binaries (``ServerUnavailableError`` says what is missing)."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise ServerUnavailableError("pg_config is not on PATH: install the PostgreSQL server")
    directory = Path(
        subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    )
    missing = [name for name in PROGRAMS if not os.access(directory / name, os.X_OK)]
    if missing:
        raise ServerUnavailableError(f"{', '.join(missing)} missing from {directory}")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ServerUnavailableError("setpriv (util-linux) is not on PATH")
    if os.geteuid() != 0:
        return ServerBinaries(directory, setpriv, (), None, dict(os.environ))
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise ServerUnavailableError(
            f"running as root and there is no {SERVER_USER} user"
        ) from None
    run_as = (f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups")
    environment = {**os.environ, "HOME": user.pw_dir, "USER": SERVER_USER}
    return ServerBinaries(directory, setpriv, run_as, (user.pw_uid, user.pw_gid), environment)


def require_server_binaries() -> ServerBinaries:
    """The binaries; else the test is skipped, or fails under ``CI=true``."""
    try:
        return server_binaries()
    except ServerUnavailableError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{error} (CI=true: the PostgreSQL failover test must run)")
        pytest.skip(str(error))


@contextlib.contextmanager
def clusters_directory(binaries: ServerBinaries, tmp_path: Path) -> Iterator[Path]:
    """A directory the server's user can write, removed afterwards.

    Not root: the test's own ``tmp_path``. Root: pytest's temporary directories are private to
    root (mode 0700 all the way up), so a fresh directory in the system's temporary directory
    owned by the server's user; the server logs are copied into ``tmp_path`` before it goes.
    """
    if binaries.owner is None:
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="ringfence-clusters-"))
    try:
        os.chown(directory, *binaries.owner)
        yield directory
    finally:
        for log in directory.glob("*.log"):
            with contextlib.suppress(OSError):
                shutil.copy(log, tmp_path / log.name)
        shutil.rmtree(directory, ignore_errors=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """One PostgreSQL cluster: a data directory, its server log and the port it listens on."""

    def __init__(self, binaries: ServerBinaries, directory: Path, name: str) -> None:
        self.binaries = binaries
        self.directory = directory
        self.name = name  # also its cluster_name, and a standby's application_name
        self.data = directory / name
        self.log = directory / f"{name}.log"
        self.port = 0  # set when it starts
        self.process: subprocess.Popen[bytes] | None = None  # the postmaster, once started

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    # ------------------------------------------------------------------ building

    def create(self, synchronous_standby: str = "") -> None:
        """initdb (trust on loopback: a test cluster), then start as a primary whose commits
        wait for the standby named ``synchronous_standby`` (none: replication is
        asynchronous)."""
        self.binaries.run(
            "initdb",
            *("-D", str(self.data), "-U", SERVER_USER, "--auth=trust"),
            *("-E", "UTF8", "--locale=C", "--no-instructions"),
            # initdb's own files only; the server itself fsyncs as in production.
            "--no-sync",
            cwd=self.directory,
        )
        names = f'"{synchronous_standby}"' if synchronous_standby else ""
        self._configure(f"synchronous_standby_names = '{names}'\n")
        self.start()

    def clone(self, primary: Cluster) -> None:
        """Become a streaming standby of the running ``primary`` (``pg_basebackup -R``), and
        start; synchronous if the primary waits for this cluster's name, else asynchronous."""
        source = f"host=127.0.0.1 port={primary.port} user={SERVER_USER}"
        source += f" application_name={self.name}"  # what synchronous_standby_names matches
        self.binaries.run(
            "pg_basebackup",
            *("-D", str(self.data), "-d", source),
            *("-R", "-X", "stream", "-c", "fast", "--no-sync"),
            cwd=self.directory,
        )
        self._configure("synchronous_standby_names = ''\n")
        self.start()

    def _configure(self, extra: str) -> None:
        """Append the test settings; later lines win, so a clone overrides what it copied."""
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as file:
            file.write(f"{_SETTINGS}cluster_name = '{self.name}'\n{extra}")

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        """Start the postmaster on a free loopback port, as a child of this process that
        dies with it (``setpriv --pdeathsig``); return once it accepts connections."""
        problems = []
        for _attempt in range(START_ATTEMPTS):
            self.port = free_port()
            with self.log.open("ab") as log:
                arguments = ("-D", str(self.data), "-p", str(self.port))
                self.process = subprocess.Popen(
                    self.binaries.command("postgres", *arguments, dies_with_us=True),
                    cwd=self.data,
                    env=self.binaries.environment,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_until_accepting():
                return
            problems.append(f"port {self.port}: exit status {self.process.returncode}")
        raise RuntimeError(f"{self.name} did not start: {problems}\n{self.log_tail()}")

    def _wait_until_accepting(self) -> bool:
        """Poll until the server takes a connection (True) or its postmaster exits (False)."""
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.process.poll() is None:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return True
            except psycopg.OperationalError:  # not listening yet, or still recovering
                assert time.monotonic() < deadline, f"{self.name}: not up\n{self.log_tail()}"
                time.sleep(0.05)
        return False

    def promote(self) -> None:
        """End recovery; ``pg_ctl promote -w`` returns once it accepts writes."""
        self._pg_ctl("promote")

    def _pg_ctl(self, action: str, *arguments: str) -> str:
        return self.binaries.run(
            "pg_ctl",
            *(action, "-D", str(self.data), "-w", "-t", str(START_TIMEOUT_S)),
            *arguments,
            cwd=self.directory,
        )

    def kill_postmaster(self) -> int:
        """SIGKILL the postmaster: no shutdown checkpoint, no goodbye to the standby. Its
        children notice its death and exit on their own; ``tear_down`` ends any left."""
        assert self.process is not None, f"{self.name} was never started"
        assert self.process.poll() is None, f"{self.name}'s postmaster is not running"
        recorded = (self.data / "postmaster.pid").read_text(encoding="ascii").split("\n")[0]
        assert int(recorded) == self.process.pid, "postmaster.pid names another process"
        os.kill(self.process.pid, signal.SIGKILL)
        return self.process.pid

    def processes(self) -> list[int]:
        """The pids of every process running in this cluster's data directory: its
        postmaster and the postmaster's children, orphaned or not."""
        data = self.data.resolve()
        pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
        return [pid for pid, cwd in _working_directories(pids).items() if cwd == data]

    def tear_down(self) -> None:
        """Stop the cluster whatever state it is in: an immediate shutdown (SIGQUIT) if its
        postmaster runs, then SIGKILL to every process left in its data directory. A process
        a test stopped (SIGSTOP) is continued first, so that it can obey."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + LEFTOVER_TIMEOUT_S
        while leftovers := self.processes():
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            assert time.monotonic() < deadline, f"{self.name}: processes {leftovers} survive"
            time.sleep(0.05)
        if self.process is not None:
            self.process.wait(timeout=STOP_TIMEOUT_S)  # reaped: no zombie, no warning

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"({self.log} unreadable)"
        return "\n".join(text.splitlines()[-lines:])


def _working_directories(pids: list[int]) -> dict[int, Path]:
    """The working directory of each of ``pids`` still alive and readable."""
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            found[pid] = Path(os.readlink(f"/proc/{pid}/cwd"))
    return found


def replication_state(primary: Cluster) -> dict[str, tuple[str, str, int]]:
    """The primary's standbys: application name -> (state, sync_state, walsender's pid)."""
    with psycopg.connect(primary.url(), autocommit=True, connect_timeout=5) as db:
        rows = db.execute(
            "SELECT application_name, state, sync_state, pid FROM pg_stat_replication"
        ).fetchall()
    return {name: (state, sync_state, pid) for name, state, sync_state, pid in rows}


def wait_until_streaming(primary: Cluster, standby_name: str, sync_state: str) -> float:
    """Wait until the primary streams to ``standby_name`` with ``sync_state`` (``sync`` or
    ``async``); the seconds waited."""
    started = time.monotonic()
    state: dict[str, tuple[str, str, int]] = {}
    while time.monotonic() - started < STREAMING_TIMEOUT_S:
        state = replication_state(primary)
        if state.get(standby_name, ("", "", 0))[:2] == ("streaming", sync_state):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{standby_name} never streamed as {sync_state}: {state}")
