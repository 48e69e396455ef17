"""Liquidation of margin buckets: plans, the insurance fund, auto-deleveraging."""
