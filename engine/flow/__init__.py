"""Flow control inside the executor: step paths, branches, loops, waits and child runs.

The executor's step loop calls into these modules (docs/flow-control.md); they sit in the
executor layer, so they may use services (approvals, resume tokens, child runs) directly.
"""
