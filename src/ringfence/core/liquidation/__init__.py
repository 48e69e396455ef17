"""Liquidation of margin buckets: plans, the insurance fund, auto-deleveraging; all pure.

Modules, from the leaves up (the economics and the steps are in ``plan``'s docstring)::

    records       policy, bucket states, the plan and its parts, account names, transfer ids
    detection     step 1: the scan's candidates, every bucket as the planner sees it
    valuation     step 2: fillable prices; bankruptcy values and exact equity
    rounds        one plan being built: memoised values, how closes and fees are written
    deleveraging  auto-deleveraging: the ranking and what each counterparty can bear
    bankruptcy    step 5: all collateral paid, then the funds, then auto-deleveraging
    closing       steps 3 and 4: partial first, otherwise every position
    vectorised    steps 3 to 5 for many linear buckets at once in int64 arrays, exactly
    plan          ``plan_liquidations``: one round's plan; the conservation check
    chains        the plan's transfers as ledger chains of one batch at most; their results
"""
