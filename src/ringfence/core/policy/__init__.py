"""The withdrawal policy: versioned rules, decided purely against the ledger's facts.

``document.py`` reads a policy (JSON, strictly), ``conditions.py`` its rules' conditions,
``movement.py`` what is decided (a movement and its facts), ``decide.py`` the decision and its
trace, ``versions.py`` drafting, four-eyes approval, publication and the time-lock, and
``codec.py`` the journal's records of versions.
"""

from ringfence.core.policy.decide import CompiledPolicy, Decision, decide
from ringfence.core.policy.document import Action, PolicyDocument, parse_policy
from ringfence.core.policy.movement import Facts, MovementKind, MovementRequest
from ringfence.core.policy.versions import PolicyBook, VersionState

__all__ = [
    "Action",
    "CompiledPolicy",
    "Decision",
    "Facts",
    "MovementKind",
    "MovementRequest",
    "PolicyBook",
    "PolicyDocument",
    "VersionState",
    "decide",
    "parse_policy",
]
