"""core/ledger/wire.py's strict_json: one reader of untrusted JSON for JSONL lines, request
bodies and policy documents, refusing the same things under each caller's code, and nesting
deeper than ``limits.json_depth_max`` by name before any parser recurses into it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.wire import check_json_depth, decode_line, strict_json
from ringfence.core.policy.fields import strict_json as policy_json
from ringfence.core.por.attestation import parse_control_file
from ringfence.core.recon.files import parse_observations, parse_prices
from ringfence.core.regulatory.files import parse_sub_custodian_register
from ringfence.service.access import decode_body
from ringfence.service.audit import published_heads

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


DEPTH_MAX = limits.json_depth_max


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("[" * DEPTH_MAX + "]" * DEPTH_MAX, DEPTH_MAX),
        ("[" * (DEPTH_MAX + 1) + "]" * (DEPTH_MAX + 1), DEPTH_MAX + 1),
        ("[" * 100_000, 100_000),  # unclosed: refused for its depth, not parsed
        ('{"a":' * (DEPTH_MAX + 1) + "1" + "}" * (DEPTH_MAX + 1), DEPTH_MAX + 1),
        # Brackets inside strings, escaped quotes and backslashes are not structure.
        ('["' + "[" * 200 + '"]', 1),
        ('["\\"' + "[" * 200 + '"]', 1),
        ('["\\\\", ' + "[" * 100 + "]" * 100 + "]", 101),
        ('["\\\\\\"[[[", ' + "[" * 70 + "]" * 70 + "]", 71),
        # An unterminated string runs to the end: the parser refuses it before what follows.
        ('["' + "[" * 200, 1),
        ("[" * 70 + '"\\', 70),
    ],
)
def test_the_depth_is_bounded_before_parsing(text: str, depth: int) -> None:
    for form in (text, text.encode()):
        if depth <= DEPTH_MAX:
            check_json_depth(form)
            continue
        with pytest.raises(InputError) as caught:
            check_json_depth(form)
        assert caught.value.code is Result.json_nested_too_deeply
        assert caught.value.detail == f"{depth} levels, at most {DEPTH_MAX}"


@pytest.mark.parametrize(("reader", "code"), READERS)
def test_every_reader_refuses_a_deep_document_by_name(reader, code) -> None:
    with pytest.raises(InputError) as caught:
        reader(b'{"a": ' + b"[" * 2_000 + b"}")  # a JSONL line holds 4,096 bytes
    assert caught.value.code is Result.json_nested_too_deeply


def depth_of(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


# Strings full of what could be mistaken for structure: brackets, quotes, backslashes.
tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\/ aé\u2028\U0001f600'), max_size=8)
json_values = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    json_values,
    st.lists(st.booleans(), min_size=DEPTH_MAX - 4, max_size=DEPTH_MAX + 2),
    tricky_text,
    st.booleans(),
)
def test_a_document_is_refused_exactly_when_it_nests_too_deep(
    value: object, wrappers: list[bool], text: str, ascii_only: bool
) -> None:
    # Wrapping in arrays and objects, each beside a string or under a key that looks like
    # structure, takes the depth to either side of the bound.
    for in_array in wrappers:
        value = [text, value] if in_array else {text: value}
    document = json.dumps(value, ensure_ascii=ascii_only)
    if depth_of(value) <= DEPTH_MAX:
        assert strict_json(document.encode(), Result.field_unknown) == value
    else:
        with pytest.raises(InputError) as caught:
            strict_json(document.encode(), Result.field_unknown)
        assert caught.value.code is Result.json_nested_too_deeply


# The readers of files with a shape of their own check the same bound before their own parse.
DEEP = b'{"a": ' + b"[" * 2_000 + b"]" * 2_000 + b"}"
OTHER_READERS = [
    lambda text: parse_observations(text, {}),
    parse_prices,
    lambda text: parse_sub_custodian_register(text, ()),
    parse_control_file,
    lambda text: published_heads((), (text,)),
]


@pytest.mark.parametrize("reader", OTHER_READERS)
def test_the_other_json_readers_refuse_a_deep_document_by_name(reader) -> None:
    with pytest.raises(InputError) as caught:
        reader(DEEP)
    assert caught.value.code is Result.json_nested_too_deeply
