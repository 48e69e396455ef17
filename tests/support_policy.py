"""A withdrawal policy for the small custodian of ``tests/support.py``.

Groups: ``policy-admins`` (root, ann, ben) governs the policy with two approvals and a one-hour
time-lock; ``treasury`` (ann, ben, cat) approves large movements; ``executives`` (ceo, cfo)
give R2's senior approvals. Rules, first match first:

1. ``cold-needs-two``: anything out of a cold wallet needs 2 of treasury;
2. ``large``: over 1 BTC or 10 ETH needs 2 of treasury;
3. ``fast``: over 2 BTC in a day per client needs 1 of treasury;
4. ``whitelisted``: a whitelisted destination is allowed;
5. ``internal``: a sweep or a rebalance needs 1 of treasury;
6. ``others``: any other external destination needs 1 of treasury.

The whitelist holds ``ALICE_ADDRESS`` for alice (one-minute cool-down) and ``SHARED_ADDRESS``
for anyone.
"""

from __future__ import annotations

import copy
import json
from typing import Any

ALICE_ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"
SHARED_ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
OTHER_ADDRESS = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
HOUSE_ADDRESS = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
BTC_ADDRESS = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"

POLICY: dict[str, Any] = {
    "format": 1,
    "governance": {"group": "policy-admins", "approvals": 2, "time_lock_s": 3600},
    "groups": {
        "policy-admins": ["root", "ann", "ben"],
        "treasury": ["ann", "ben", "cat"],
        "executives": ["ceo", "cfo"],
    },
    "whitelist": {
        "cool_down_s": 60,
        "entries": [
            {"address": ALICE_ADDRESS, "chain": "ethereum", "client": "alice"},
            {"address": SHARED_ADDRESS, "chain": "ethereum", "label": "exchange"},
            {"address": BTC_ADDRESS, "chain": "bitcoin", "client": "alice"},
        ],
    },
    "residual_interest": {"senior_group": "executives", "senior_approvals": 2},
    "fee_max": {"BTC": "0.0005", "ETH": "0.01"},
    "approval_timeout_s": 86400,
    "rules": [
        {
            "id": "cold-needs-two",
            "when": {"tiers": ["cold"]},
            "action": {"require": 2, "groups": ["treasury"]},
        },
        {
            "id": "large",
            "when": {"amount_over": {"BTC": "1", "ETH": "10"}},
            "action": {"require": 2, "groups": ["treasury"]},
        },
        {
            "id": "fast",
            "when": {"velocity": {"window_s": 86400, "per": "client", "over": {"BTC": "2"}}},
            "action": {"require": 1, "groups": ["treasury"]},
        },
        {"id": "whitelisted", "when": {"destination": "whitelisted"}, "action": "allow"},
        {
            "id": "internal",
            "when": {"destination": "internal"},
            "action": {"require": 1, "groups": ["treasury"]},
        },
        {"id": "others", "action": {"require": 1, "groups": ["treasury"]}},
    ],
}


def policy_document(**changes: Any) -> dict[str, Any]:
    """The policy above with top-level fields replaced."""
    document = copy.deepcopy(POLICY)
    document.update(changes)
    return document


def policy_text(**changes: Any) -> bytes:
    return json.dumps(policy_document(**changes)).encode()
