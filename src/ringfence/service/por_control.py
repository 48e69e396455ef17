"""Signing a round's proof-of-control challenges (``ringfence por sign``).

``por challenges --json`` lists what each client-designated address must sign; the wallets'
keys sign it and return a control file, ``{"proofs": [...]}``, that ``por build --control``
judges. The signer signs only what is a challenge for the very address it names (the format of
core/custody/control.py, byte for byte): a text that merely asks for a signature, or that names
another address, is refused before any key sees it.
"""

from __future__ import annotations

import json
from typing import Any

from ringfence.core import limits
from ringfence.core.custody.control import parse_challenge
from ringfence.core.errors import InputError, Result
from ringfence.service.ports import ControlSigner


def sign_challenges(challenges: bytes, signer: ControlSigner) -> dict[str, Any]:
    """The control file for ``challenges`` (the ``por challenges --json`` document) with every
    signature ``signer`` can make, and the addresses it could not sign for (``ok`` false)."""
    proofs, unsigned = [], []
    for item in _challenges(challenges):
        signature = signer.signature(item["chain"], item["address"], item["message"])
        if signature is None:
            unsigned.append(item["address"])
            continue
        proofs.append({"chain": item["chain"], "address": item["address"],
                       "message": item["message"], "signature": signature})  # fmt: skip
    return {"ok": not unsigned, "round_id": _round_id(challenges), "signed": len(proofs),
            "unsigned": unsigned, "control": {"proofs": proofs}}  # fmt: skip


def _challenges(text: bytes) -> list[dict[str, str]]:
    if len(text) > limits.control_file_bytes_max:
        raise InputError(Result.holdings_file_too_large, f"{len(text)} bytes")
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(Result.line_malformed, f"challenges file: {error}") from None
    items = document.get("challenges") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise InputError(Result.field_required, "challenges: the `por challenges --json` output")
    return [_challenge(number, item) for number, item in enumerate(items, start=1)]


def _challenge(number: int, item: object) -> dict[str, str]:
    fields = ("chain", "address", "message")
    if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in fields):
        raise InputError(Result.control_challenge_invalid, f"challenge {number}: {fields}")
    challenge = parse_challenge(item["message"])
    if challenge is None or (challenge.chain.value, challenge.address) != (
        item["chain"], item["address"]
    ):
        detail = f"challenge {number} is not a challenge for {item['address']}"
        raise InputError(Result.control_message_mismatch, detail)
    return {field: item[field] for field in fields}


def _round_id(text: bytes) -> str:
    document = json.loads(text)
    return str(document.get("round_id", ""))
