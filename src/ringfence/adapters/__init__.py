"""Implementations of the service's ports: storage, clocks, and later chains and prices."""
