"""JSON nested 100,000 deep, sent after the Ethereum libraries were imported, is refused by name
and kills nothing. It runs in a child process, so that a segmentation fault fails this test
instead of ending the test run.

py_ecc (under eth-account and web3) raises the recursion limit to 100,000 when imported; with
that limit Python's JSON reader overflows the C stack on such a document. Two defences are
checked: the package keeps the limit where it was when py_ecc is imported after it, and the
strict reader refuses the depth before parsing even when the limit is high (a program that
imported py_ecc before ringfence)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys
limit = sys.getrecursionlimit()
import ringfence
import eth_account  # brings in py_ecc
kept = sys.getrecursionlimit()
sys.setrecursionlimit(100_000)  # as when py_ecc was imported before ringfence

from tests.support import journal_signer
from tests.support_api import api_world
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.wire import strict_json
from ringfence.service.ledger import LedgerService

deep = b"[" * 100_000 + b"]" * 100_000
try:
    strict_json(deep, Result.request_body_malformed)
    reader = "accepted"
except InputError as error:
    reader = error.code.value
world = api_world(LedgerService(MemoryStore(), ManualClock(), journal_signer()))
headers = world.headers("operator", **{"Content-Type": "application/json"})
answer = world.http.post("/v1/transfers", headers=headers, content=deep)
print(json.dumps({"limit": limit, "kept": kept, "reader": reader,
                  "status": answer.status_code, "code": answer.json().get("code")}))
"""


def test_a_body_nested_100000_deep_is_refused_after_eth_account_was_imported() -> None:
    root = Path(__file__).resolve().parents[2]
    child = subprocess.run(  # its exit status is the finding: a crash is -11
        [sys.executable, "-c", CHILD],
        check=False, cwd=root, capture_output=True, text=True, timeout=120,
    )
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-2000:]}"
    seen = json.loads(child.stdout.splitlines()[-1])
    assert seen["kept"] == seen["limit"]
    assert seen["reader"] == "json_nested_too_deeply"
    assert (seen["status"], seen["code"]) == (400, "json_nested_too_deeply")
