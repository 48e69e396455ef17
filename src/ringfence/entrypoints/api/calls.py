"""What every route shares (``Api``): the service bundle, its lock, remembered responses and
metrics, and ``Api.answer``, the steps around each route's one service call (app.py lists
them); and how a route declares the JSON body it takes (``request_body``)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

from fastapi import Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from ringfence import bootstrap
from ringfence.core.errors import InputError, Result, RingfenceError
from ringfence.entrypoints.api.metrics import ApiMetrics
from ringfence.entrypoints.api.problems import code_of, problem_of
from ringfence.service import access
from ringfence.service.access import Actor, body_bytes_max
from ringfence.service.access_schemas import item_schemas
from ringfence.service.idempotency import IdempotentResponses, Remembered, fingerprint
from ringfence.service.ledger import LedgerService

json_media_type = "application/json"
answer_chunk_bytes = 64 * 1024  # a file answer is read and sent this much at a time

# A service call: the ledger, the actor, and the decoded body (None for a read).
Call = Callable[[LedgerService, Actor, object], Any]
# A service call that writes its answer to a file: the same, and the file's path.
FileCall = Callable[[LedgerService, Actor, object, str], Any]


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A route's OpenAPI ``openapi_extra``: a required JSON body of ``schema``."""
    return {"requestBody": {"required": True, "content": {json_media_type: {"schema": schema}}}}


# An approval's optional body: the approver's signature of the approval instruction.
approval_body: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            json_media_type: {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "signature": {
                            "type": "string",
                            "pattern": "^[0-9a-f]{128}$",
                            "description": "The approver's Ed25519 signature of the approval "
                            "instruction (docs/withdrawals.md), 128 lowercase hex digits; "
                            "required when the governing policy says approvals_signed.",
                        }
                    },
                }
            }
        },
    }
}


def batch_body(plural: str, count_max: int) -> dict[str, Any]:
    """The request body of a create: ``{plural: [item, ...]}``, nothing else, each item as its
    schema describes it (service/access_schemas.py)."""
    items = {
        "type": "array",
        "minItems": 1,
        "maxItems": count_max,
        "items": item_schemas()[plural],
    }
    return request_body(
        {
            "type": "object",
            "required": [plural],
            "additionalProperties": False,
            "properties": {plural: items},
        }
    )


def documents_body(*names: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request body of a call that takes named documents and plain strings."""
    return request_body(
        {
            "type": "object",
            "additionalProperties": False,
            "required": list(required),
            "properties": {name: {"type": "string"} for name in names},
        }
    )


class Api:
    """What every route shares: the service bundle, its lock, remembered responses, metrics."""

    def __init__(self, bundle: bootstrap.ServiceBundle) -> None:
        self.bundle = bundle
        self.lock = threading.Lock()
        self.idempotency = IdempotentResponses(bundle.idempotency)
        self.metrics = ApiMetrics(self._coverage)

    def _coverage(self) -> list[tuple[str, str, float]]:
        with self.lock:
            return access.coverage_ratios(self.bundle.current())

    async def actor(self, request: Request) -> Actor:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if header and scheme.lower() != "bearer":
            raise InputError(Result.api_key_invalid, "use Authorization: Bearer <API key>")
        return await run_in_threadpool(self._actor_of, presented.strip())

    def _actor_of(self, presented: str) -> Actor:
        """An API key's actor; with tokens configured, a bearer that is not shaped like a key
        is an OIDC/JWT token: its signature and claims are checked outside the lock, its
        principal against the ledger under it."""
        tokens = self.bundle.tokens
        if tokens is None or not presented or access.looks_like_api_key(presented):
            return self.bundle.verifier.actor_of(presented)
        actor = tokens.claimed_actor(presented)
        with self.lock:
            tokens.check_principal(actor, self.bundle.current(), self.bundle.keys)
        return actor

    async def answer(
        self, request: Request, route: str, call: Call, write: bool = False
    ) -> Response:
        try:
            actor = await self.actor(request)
            body = await _body(request) if write else b""
            key = request.headers.get("idempotency-key") if write else None
            target = request.url.path + ("?" + request.url.query if request.url.query else "")
            seen = fingerprint(request.method, target, body)
            return await run_in_threadpool(
                self._called, route, actor, call, body=body, key=key, seen=seen
            )
        except RingfenceError as error:
            self.metrics.count(route, code_of(error))
            return problem_of(error, request.url.path)

    def _called(
        self, route: str, actor: Actor, call: Call, *, body: bytes, key: str | None, seen: bytes
    ) -> Response:
        with self.lock:
            if key is not None:
                found = self.idempotency.replay(actor, key, seen)
                if found is not None:
                    self.metrics.count(route, "replayed")
                    return Response(
                        found.body,
                        found.status,
                        media_type=json_media_type,
                        headers={"Idempotency-Replayed": "true"},
                    )
            document = access.decode_body(body) if body else None
            answer = call(self.bundle.current(), actor, document)
            self._count(route, answer)
            content = json.dumps(answer).encode("utf-8")
            if key is not None:
                self.idempotency.remember(actor, key, Remembered(seen, 200, content))
            return Response(content, 200, media_type=json_media_type)

    async def answer_file(
        self, request: Request, route: str, call: FileCall, media_type: str
    ) -> Response:
        """A write answered with a file the call writes (a resolution pack): made in a folder
        of its own, deleted when the call fails, else opened and deleted before the first
        byte is sent (``_opened_and_removed``). Such an answer is not remembered for an
        ``Idempotency-Key``: it journals nothing, and a retry makes another."""
        folder = tempfile.mkdtemp(prefix="ringfence-answer-")
        out = os.path.join(folder, "answer")
        try:
            actor = await self.actor(request)
            body = await _body(request)
            await run_in_threadpool(self._wrote, route, actor, call, body, out)
        except BaseException as error:
            shutil.rmtree(folder, ignore_errors=True)
            if not isinstance(error, RingfenceError):
                raise
            self.metrics.count(route, code_of(error))
            return problem_of(error, request.url.path)
        return await run_in_threadpool(_opened_and_removed, out, folder, media_type)

    def _wrote(self, route: str, actor: Actor, call: FileCall, body: bytes, out: str) -> None:
        with self.lock:
            call(self.bundle.current(), actor, access.decode_body(body), out)
            self.metrics.count(route, "ok")

    def _count(self, route: str, document: object) -> None:
        """Each result of a create by its code; any other answer as one ``ok``."""
        results = document.get("results") if isinstance(document, dict) else None
        # Other answers have lists of "results" too (a risk scan's rows): only a create's
        # rows carry a result code each.
        if not isinstance(results, list) or not all(
            isinstance(row, dict) and isinstance(row.get("result"), str) for row in results
        ):
            self.metrics.count(route, "ok")
            return
        counts: dict[str, int] = {}
        for row in results:
            counts[row["result"]] = counts.get(row["result"], 0) + 1
        for code, times in counts.items():
            self.metrics.count(route, code, times)


def _opened_and_removed(path: str, folder: str, media_type: str) -> Response:
    """The file at ``path`` streamed through a descriptor opened here, its ``folder`` removed
    before the answer starts. Nothing is left on disk however the answer ends: sent whole,
    failed, the caller gone mid-way (a clean-up that waits for the end of the answer runs on
    some servers and not others, and never when the server is stopped or killed while a
    caller is still reading, or reads slowly for ever)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 -- closed by the answer's stream
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    size = os.fstat(handle.fileno()).st_size
    return StreamingResponse(
        _chunks_of(handle),
        media_type=media_type,
        headers={"content-length": str(size)},
        background=BackgroundTask(handle.close),  # if the stream never started
    )


async def _chunks_of(handle: BinaryIO) -> AsyncIterator[bytes]:
    """The open file's bytes, a chunk at a time read in a worker thread; closed at the end
    or when the answer stops."""
    try:
        while chunk := await run_in_threadpool(handle.read, answer_chunk_bytes):
            yield chunk
    finally:
        handle.close()


async def _body(request: Request) -> bytes:
    """The body of a write, refused before parsing if it is not JSON or too large."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != json_media_type:
        raise InputError(
            Result.content_type_unsupported, f"{media or 'none'}: send {json_media_type}"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > body_bytes_max:
        raise InputError(
            Result.request_body_too_large, f"{declared} bytes, at most {body_bytes_max}"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > body_bytes_max:
            raise InputError(Result.request_body_too_large, f"more than {body_bytes_max} bytes")
        chunks.append(chunk)
    if size == 0:
        raise InputError(Result.request_body_malformed, "empty body")
    return b"".join(chunks)
