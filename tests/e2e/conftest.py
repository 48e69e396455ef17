"""Fixtures for the end-to-end tests: ``anvil_node``, a real local Ethereum node per test
(tests/support_anvil.py)."""

from tests.support_anvil import anvil_node

__all__ = ["anvil_node"]
