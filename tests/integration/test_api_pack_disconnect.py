"""``POST /v1/resolution-packs`` leaves no temporary file behind, whether the answer is sent
whole, refused, or the caller goes away in the middle of the download (entrypoints/api/calls.py,
``answer_file``), against a real ``ringfence serve``.

The server's temporary folder is one of the test's own (``TMPDIR``), so what it holds after
each request is exactly what the answers left. The caller that goes away reads the headers and
a few bytes of the zip through a socket with a small receive window, and closes the
connection while the server is still writing (the pack is larger than what the sockets and
the server's write buffer hold). The answer's folder is gone before its first byte is sent,
so not even a server stopped or killed mid-way leaves it."""

from __future__ import annotations

import io
import json
import random
import signal
import socket
import struct
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx2 as httpx
import pytest
from tests import support_cli as cli
from tests.support import build_custodian
from tests.support_serve import start_server, stop_server

from ringfence import bootstrap
from ringfence.core import limits

deposits = 130_000  # a pack of some 6 MB: more than the sockets hold (4 MB at most here)
cleanup_seconds_max = 20.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str, Path]]:
    """A server over a ledger with enough transfers for a large pack, its temporary folder,
    and a compliance key."""
    url = f"sqlite:///{tmp_path / 'ringfence.db'}"
    service = bootstrap.open_ledger(url)
    try:
        custodian = build_custodian(service)
        draw = random.Random(7)  # ids, amounts and references that do not compress
        transfers = [
            replace(
                custodian.deposit(draw.getrandbits(127) + 10_000, ("alice", "bob")[i % 2],
                                  draw.randrange(1, 10**12)),
                reference=draw.getrandbits(127),
            )
            for i in range(deposits)
        ]
        for start in range(0, len(transfers), limits.batch_events_max):
            service.submit(transfers[start : start + limits.batch_events_max])
    finally:
        service.close()
    made = cli.run(url, "keys", "create", "--role", "compliance", "--json")
    assert made.status == 0, made.stderr
    temporary = tmp_path / "serve-tmp"
    temporary.mkdir()
    process, base = start_server(url, tmp_path / "serve.log", {"TMPDIR": str(temporary)})
    try:
        yield process, base, str(made.document["key"]), temporary
    finally:
        stop_server(process)


def emptied(folder: Path) -> list[str]:
    """The answers' folders left in ``folder`` once the server had time to clean up (polled;
    other libraries may keep files of their own there)."""
    deadline = time.monotonic() + cleanup_seconds_max
    while (left := sorted(str(path) for path in folder.glob("ringfence-answer-*"))) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    return left


def request_and_go_away(
    base: str, key: str, body_bytes_read: int, temporary: Path,
    meanwhile: Callable[[], None] = lambda: None,
) -> int:
    """Ask for a pack over a raw socket, read the head and ``body_bytes_read`` bytes, check
    that nothing of the answer is on disk while the server waits to send the rest, do
    ``meanwhile`` and close the connection (a reset); returns how many bytes of the body were
    received."""
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({}).encode()
    head = (
        f"POST /v1/resolution-packs HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.socket() as connection:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.connect((host, int(port)))
        connection.sendall(head + body)
        received = b""
        while b"\r\n\r\n" not in received:
            received += connection.recv(4096)
        status = received.split(b" ", 2)[1]
        assert status == b"200", received[:300]
        got = len(received.partition(b"\r\n\r\n")[2])
        while got < body_bytes_read:
            got += len(connection.recv(4096))
        time.sleep(1.0)  # the server fills what the sockets hold, and waits
        # Mid-way through the answer, nothing of it is on disk any more.
        assert list(temporary.glob("ringfence-answer-*")) == []
        meanwhile()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return got


@pytest.mark.slow
def test_a_packs_temporary_folder_is_removed_however_the_answer_ends(
    served: tuple[subprocess.Popen[bytes], str, str, Path],
) -> None:
    process, base, key, temporary = served
    headers = {"Authorization": f"Bearer {key}"}
    whole = httpx.post(f"{base}/v1/resolution-packs", json={}, headers=headers, timeout=120)
    assert whole.status_code == 200, whole.text
    assert len(whole.content) > 5 * 2**20, len(whole.content)
    assert whole.headers["content-length"] == str(len(whole.content))
    assert zipfile.ZipFile(io.BytesIO(whole.content)).testzip() is None
    assert emptied(temporary) == []
    refused = httpx.post(
        f"{base}/v1/resolution-packs", json={"scenario": []}, headers=headers, timeout=120
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "scenario_invalid")
    assert emptied(temporary) == []
    received = request_and_go_away(base, key, 10_000, temporary)
    assert received < len(whole.content)
    assert emptied(temporary) == []
    # The server keeps answering after a caller went away, and a server killed while a
    # caller is still reading leaves nothing either (no clean-up could run after it).
    assert httpx.get(f"{base}/v1/health").status_code == 200

    def killed() -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    request_and_go_away(base, key, 10_000, temporary, meanwhile=killed)
    assert list(temporary.glob("ringfence-answer-*")) == []
