"""core/ledger/wire.py's strict_json: one reader of untrusted JSON for JSONL lines, request
bodies and policy documents, refusing the same things under each caller's code."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.wire import decode_line, strict_json
from ringfence.core.policy.fields import strict_json as policy_json
from ringfence.service.access import decode_body

REFUSED = [
    (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
    (b'{"a": NaN}', "NaN is not a JSON number"),
    (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
    (b'{"a": 1', "Expecting ',' delimiter"),
    (b"\xff{}", "not UTF-8 at byte 0"),
]
READERS = [
    (lambda text: strict_json(text, Result.field_unknown), Result.field_unknown),
    (decode_line, Result.line_malformed),
    (decode_body, Result.request_body_malformed),
    (policy_json, Result.policy_document_malformed),
]


@pytest.mark.parametrize(("reader", "code"), READERS)
@pytest.mark.parametrize(("text", "detail"), REFUSED)
def test_every_reader_refuses_the_same_things_under_its_code(reader, code, text, detail) -> None:
    with pytest.raises(InputError) as caught:
        reader(text)
    assert caught.value.code is code
    assert detail in caught.value.detail


def test_a_fraction_is_a_decimal_and_a_position_is_named_for_its_reader() -> None:
    assert strict_json(b'{"amount": 0.1}', Result.field_unknown) == {"amount": Decimal("0.1")}
    with pytest.raises(InputError, match="at line 2 column 1"):
        strict_json(b'{"a": 1,\n}', Result.field_unknown)
    with pytest.raises(InputError, match="at column 9"):
        decode_line(b'{"a": 1,}')
