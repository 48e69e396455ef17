"""The risk engine: margin buckets, requirements, scenario scans and volatility, all pure.

Layers inside, from the leaves up::

    config        every parameter (tiers, grids, shocks, EWMA, buffers), a frozen value
    instruments   spot, perpetuals and futures (linear or inverse), Black-76 options; buckets
    black76       option values and Greeks on the forward, vectorised
    rounding      the one place a float becomes minor units, always against the client
    margin        tiered maintenance, isolated liquidation and bankruptcy prices
    scenarios     the scenario grid (price x volatility + extended) and the SPAN-style 16
    volatility    EWMA with anti-procyclicality, step limits and the risk score
    scan          risk arrays once per scan, buckets by a sparse product; pre-trade checks
    settlement    fills into positions, and a cycle's settlement and funding plans

Money never passes through a float: requirements and collateral values leave the engine as
integer minor units rounded by ``rounding``; settlement amounts are exact rationals rounded
the same way. Scenario values inside a scan are float64 arrays, marked ``# float-ok``.
"""
