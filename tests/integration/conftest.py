"""Fixtures for the integration tests: ``anvil_node``, a real local Ethereum node per test
(tests/support_anvil.py), and ``softhsm``, one SoftHSM2 with its tokens per test process
(tests/support_hsm.py)."""

from tests.support_anvil import anvil_node
from tests.support_hsm import softhsm

__all__ = ["anvil_node", "softhsm"]
