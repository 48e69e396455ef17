"""core/access/revocations.py: the list of tokens revoked before their exp, parsed from JSON or
text, and a verified token's claims checked against it."""

from __future__ import annotations

import json

import pytest

from ringfence.core import limits
from ringfence.core.access.revocations import (
    TokenRevocations,
    check_not_revoked,
    parse_token_revocations,
)
from ringfence.core.errors import InputError, Result

AT = 1_765_148_400  # 2025-12-07T23:00:00Z


def test_json_and_text_lists_say_the_same() -> None:
    document = {
        "tokens": ["a1b2", "c3d4"],
        "subjects": [
            {"name": "ann", "revoked_at": "2025-12-07T23:00:00Z"},
            {"name": "ben", "revoked_at": AT},
            {"name": "eve"},
        ],
    }
    text = f"""# revoked by the security desk
jti a1b2
jti c3d4   # a lost laptop
sub ann 2025-12-07T23:00:00Z

sub ben {AT}
sub eve
"""
    from_json = parse_token_revocations(json.dumps(document).encode())
    from_text = parse_token_revocations(text.encode())
    assert from_json == from_text
    assert from_json.token_ids == {"a1b2", "c3d4"}
    always = limits.timestamp_ns_max // 10**9
    assert dict(from_json.subjects) == {"ann": AT, "ben": AT, "eve": always}
    assert parse_token_revocations(b"") == TokenRevocations()


def test_the_latest_revocation_of_a_subject_holds() -> None:
    text = f"sub ann {AT}\nsub ann {AT + 60}\nsub ann {AT - 60}"
    revoked = parse_token_revocations(text.encode())
    assert dict(revoked.subjects) == {"ann": AT + 60}


@pytest.mark.parametrize(
    "data",
    [
        b"{",  # not JSON
        b"[]",  # not an object
        b'{"tokens": ["a"], "others": []}',  # an unknown member
        b'{"tokens": "a"}',
        b'{"tokens": [1]}',
        b'{"tokens": [""]}',
        json.dumps({"tokens": ["x" * (limits.token_id_length_max + 1)]}).encode(),
        b'{"subjects": ["ann"]}',
        b'{"subjects": [{"name": "Ann!"}]}',
        b'{"subjects": [{"name": "ann", "revoked_at": 1.5}]}',
        b'{"subjects": [{"name": "ann", "revoked_at": true}]}',
        b'{"subjects": [{"name": "ann", "revoked_at": "yesterday"}]}',
        b'{"subjects": [{"name": "ann", "revoked_at": -1}]}',
        b'{"subjects": [{"name": "ann", "since": 1}]}',
        b"jti",  # no id
        b"jti a b",
        b"sub",
        b"sub ann 2025-13-01T00:00:00Z",
        "sub ann \u00b2".encode(),  # a digit to str.isdigit, not to int()
        '{"subjects": [{"name": "ann", "revoked_at": "1\u00b2"}]}'.encode(),
        b"sub ann " + b"9" * (limits.token_revoked_at_digits_max + 1),
        b"sub ann " + b"9" * 5000,  # past int()'s own digit limit
        b'{"subjects": [{"name": "ann", "revoked_at": "' + b"9" * 5000 + b'"}]}',
        b'{"subjects": [{"name": "ann", "revoked_at": ' + b"9" * 5000 + b"}]}",
        b'{"tokens": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",  # nested past recursion
        b"revoke ann",
        b"\xff\xfe",  # not UTF-8
        b"jti a\n" * (limits.token_revocations_bytes_max // 6 + 1),  # too large
    ],
)
def test_a_malformed_list_is_refused_whole_by_name(data: bytes) -> None:
    with pytest.raises(InputError) as refused:
        parse_token_revocations(data)
    assert refused.value.code is Result.token_revocations_invalid


def test_too_many_entries_are_refused() -> None:
    data = "".join(f"jti t{n}\n" for n in range(limits.token_revocations_max + 1)).encode()
    with pytest.raises(InputError) as refused:
        parse_token_revocations(data)
    assert refused.value.code is Result.token_revocations_invalid


def test_a_token_is_refused_by_its_jti_or_its_subject_revoked_since_it_was_issued() -> None:
    revoked = parse_token_revocations(f"jti lost-1\nsub ann {AT}\nsub eve".encode())

    def refused(claims: dict[str, object], name: str) -> bool:
        try:
            check_not_revoked(claims, name, revoked)
        except InputError as error:
            assert error.code is Result.token_revoked
            return True
        return False

    assert refused({"jti": "lost-1", "iat": AT + 999}, "ben")  # by id, whoever it names
    assert not refused({"jti": "lost-2", "iat": AT + 999}, "ben")
    assert refused({"iat": AT - 1}, "ann")
    assert refused({"iat": AT}, "ann")  # issued at the very second: refused
    assert not refused({"iat": AT + 1}, "ann")  # signed in again afterwards
    assert refused({}, "ann")  # no iat: cannot show it is newer
    assert refused({"iat": True}, "ann")
    assert refused({"iat": str(AT + 1)}, "ann")
    assert refused({"iat": AT + 10**6}, "eve")  # revoked without a time: always
    assert not refused({"iat": AT - 1}, "ben")
    assert not refused({"jti": 7, "iat": AT - 1}, "ben")  # a jti that is no string names none
