"""How the client reads answers: problems become ``ProblemError`` with the service's code,
anything else unexpected ``AnswerUnreadableError``, no answer ``ServiceUnreachableError``; pages are
walked to the end; a replayed answer says so (scripted transports, no service)."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pytest

from ringfence.remote import (
    AnswerUnreadableError,
    ProblemError,
    RemoteError,
    RemoteService,
    ServiceUnreachableError,
)
from ringfence.remote import operations as op


def service_answering(answer: Callable[[httpx2.Request], httpx2.Response]) -> RemoteService:
    http = httpx2.Client(base_url="http://service", transport=httpx2.MockTransport(answer))
    return RemoteService(token="t", http=http)


def test_a_problem_is_raised_with_its_code_status_and_detail() -> None:
    problem = {
        "type": "https://ringfence.dev/problems/account_not_found",
        "title": "x",
        "status": 404,
        "code": "account_not_found",
        "detail": "7",
        "instance": "/v1",
    }
    service = service_answering(
        lambda _: httpx2.Response(
            404, json=problem, headers={"content-type": "application/problem+json"}
        )
    )
    with pytest.raises(ProblemError) as raised:
        service.account(7)
    assert (raised.value.code, raised.value.status, raised.value.detail) == (
        "account_not_found",
        404,
        "7",
    )
    assert isinstance(raised.value, RemoteError)


@pytest.mark.parametrize(
    ("status", "body", "media"),
    [
        (502, b"<html>bad gateway</html>", "text/html"),
        (200, b"<html>a portal page</html>", "text/html"),
        (200, b'{"items": [', "application/json"),
        (401, b"not a problem", "application/problem+json"),
    ],
)
def test_an_unexpected_answer_is_unreadable_not_a_document(
    status: int, body: bytes, media: str
) -> None:
    service = service_answering(
        lambda _: httpx2.Response(status, content=body, headers={"content-type": media})
    )
    with pytest.raises((AnswerUnreadableError, ProblemError)) as raised:
        service.accounts()
    if isinstance(raised.value, ProblemError):
        assert raised.value.code == "problem_unreadable"
        assert raised.value.status == status


def test_no_answer_is_service_unreachable() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    with pytest.raises(ServiceUnreachableError):
        service_answering(refuse).health()


def test_each_walks_every_page_passing_the_cursor_back() -> None:
    pages = {None: (["a", "b"], "2"), "2": (["c"], "3"), "3": ([], None)}
    asked: list[str | None] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        cursor = request.url.params.get("cursor")
        asked.append(cursor)
        items, following = pages[cursor]
        return httpx2.Response(200, json={"items": items, "next_cursor": following})

    service = service_answering(answer)
    assert list(service.each(service.transfers, client="alice")) == ["a", "b", "c"]
    assert asked == [None, "2", "3"]


def test_a_replayed_answer_says_so() -> None:
    service = service_answering(
        lambda _: httpx2.Response(
            200, json={"ok": True, "results": []}, headers={"Idempotency-Replayed": "true"}
        )
    )
    answer = service.send(op.create_transfers, body={"transfers": []}, idempotency_key="k")
    assert answer.replayed
    assert answer.document == {"ok": True, "results": []}
