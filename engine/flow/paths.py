"""Step paths: the identity of one step execution inside a run.

A step outside any loop has path = key; inside loop ``L`` at iteration ``i`` it is ``L[i].key``
(``outer[1].inner[3].key`` when nested). Step rows are unique per (run, path), the idempotency
key of a step is ``"{run_id}:{path}"``, and a resume URL is bound to a path.

The executor's step functions take the step's definition dict; a step inside a loop gets a copy
carrying its path and iteration under :data:`PATH` and :data:`ITERATION` (names a definition
cannot hold: the definition model forbids unknown keys).
"""

from __future__ import annotations

from typing import Any

PATH = "_path"
ITERATION = "_iteration"


def iteration_prefix(prefix: str, loop_key: str, index: int) -> str:
    """The prefix of the steps inside iteration ``index`` of the loop ``loop_key``."""
    return f"{prefix}{loop_key}[{index}]."


def located(step: dict[str, Any], path: str, iteration: int | None) -> dict[str, Any]:
    """``step`` as the executor writes it: with its path (and iteration inside a loop)."""
    if path == step["key"] and iteration is None:
        return step
    return {**step, PATH: path, ITERATION: iteration}


def path_for(loops: tuple[str, ...], indices: dict[str, int], key: str) -> str:
    """The path of ``key`` (inside ``loops``, outermost first) at the current loop ``indices``.
    Raises KeyError naming a loop we are not inside."""
    return "".join(f"{loop}[{indices[loop]}]." for loop in loops) + key
