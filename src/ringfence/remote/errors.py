"""What a call to the REST API can fail with, as one tree (the client speaks HTTP only, so its
exceptions are its own and not the service's):

    RemoteError                  anything a call did not get an answer to use from
    ├── ProblemError             the service refused: an RFC 9457 problem, whose ``code`` is
    │                            the service's result code (``account_not_found``, ...)
    ├── AnswerUnreadableError    an answer that is neither the JSON document asked for nor a
    │                            problem (a proxy's HTML error page, a truncated body)
    └── ServiceUnreachableError  no answer at all: refused connection, TLS failure, timeout

A refusal never changed anything on the service (docs/api.md); ``ServiceUnreachableError`` on a
write leaves it unknown whether it was applied: send it again with the same
``Idempotency-Key`` (or the same transfer ids) to find out.
"""

from __future__ import annotations

__all__ = ["AnswerUnreadableError", "ProblemError", "RemoteError", "ServiceUnreachableError"]


class RemoteError(Exception):
    """The root of the client's exceptions."""


class ProblemError(RemoteError):
    """A problem document (``application/problem+json``): the service's refusal, by code."""

    def __init__(
        self, code: str, status: int, title: str = "", detail: str = "", instance: str = ""
    ) -> None:
        self.code = code
        self.status = status
        self.title = title
        self.detail = detail
        self.instance = instance
        super().__init__(f"{status} {code}" + (f": {detail}" if detail else ""))


class AnswerUnreadableError(RemoteError):
    """An answer of an unexpected status or shape; ``status`` is its HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"{status}: {detail}")


class ServiceUnreachableError(RemoteError):
    """The request got no answer (connection, TLS or timeout); the cause is chained."""
