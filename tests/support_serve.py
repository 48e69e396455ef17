"""``ringfence serve`` as an operator runs it: the installed console script in a process of its
own, on a free loopback port, waited for until ``/v1/health`` answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx2 as httpx

RINGFENCE = str(Path(sys.executable).with_name("ringfence"))
start_seconds_max = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    url: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    *more: str,
    cwd: Path | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``ringfence --db URL serve`` (then ``more`` options) with its output appended to
    ``log`` and no ``RINGFENCE_*`` variable but those of ``env``; returns the process and its
    base URL once it answers."""
    port = free_port()
    command = [RINGFENCE, "--db", url, "serve", "--host", "127.0.0.1", "--port", str(port), *more]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RINGFENCE_")}
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment | dict(env or {}),
            cwd=cwd,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_seconds_max
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/v1/health").status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
